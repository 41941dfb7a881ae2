import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { rmSync, mkdirSync, mkdtempSync, renameSync, statSync, symlinkSync, writeFileSync, appendFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  DEFAULT_FILE_TAIL_LIMITS,
  nextFileTailStart,
  fileTailScript,
  parseFileTailOutput,
  takeLines,
  type FilePosition,
} from '../../../../src/core/collector/fileTail';

const CAP = 10;
const chunk = (offset: number, text: string) => ({ offset, data: Buffer.from(text) });

describe('collector: taking lines of a file read from an offset', function () {
  it('takes whole lines from the start and leaves an unended one for the next round', function () {
    assert.deepEqual(takeLines(chunk(0, 'one\ntwo\r\nthr'), CAP), { lines: ['one', 'two'], offset: 9, midLine: false });
  });

  it('reads from the byte before the offset: a newline there means the file is the one read before', function () {
    assert.deepEqual(takeLines(chunk(4, '\nthree\n'), CAP), { lines: ['three'], offset: 10, midLine: false });
    assert.deepEqual(takeLines(chunk(4, '\n'), CAP), { lines: [], offset: 4, midLine: false });
  });

  it('cuts an unended line past the bound, then skips its rest up to the next newline', function () {
    const first = takeLines(chunk(0, 'ok\n' + 'x'.repeat(25)), CAP);
    assert.deepEqual(first, { lines: ['ok', `${'x'.repeat(CAP)}…`], offset: 28, midLine: true });
    // The line goes on without end: skipped whole, still inside it.
    assert.deepEqual(takeLines(chunk(28, 'x'.repeat(8)), CAP, true), { lines: [], offset: 35, midLine: true });
    // It ends: the next line is whole.
    assert.deepEqual(takeLines(chunk(35, 'xxx\nnext\n'), CAP, true), { lines: ['next'], offset: 43, midLine: false });
  });

  it('cuts an ended line past the bound and keeps the next one whole', function () {
    assert.deepEqual(takeLines(chunk(0, `${'y'.repeat(30)}\nafter\n`), CAP).lines, [`${'y'.repeat(CAP)}…`, 'after']);
  });

  it('reads a file again from its start when the byte before the offset says it was truncated and written again', function () {
    assert.deepEqual(takeLines(chunk(6, 'rest\n'), CAP), { lines: [], offset: 0, midLine: false });
    assert.deepEqual(takeLines(chunk(6, '\nrest\n'), CAP, true), { lines: [], offset: 0, midLine: false });
  });
});

describe("collector: the file tail script's output, as hostile input", function () {
  const b64 = (text: string) => Buffer.from(text).toString('base64');

  it('reads records of header and data', function () {
    const output = `F 64:12 10 4 ${b64('/tmp/a.log')}\n${b64('\nabc\n')}\nF 64:13 3 0 ${b64('/tmp/b.log')}\n${b64('hi\n')}\n`;
    const chunks = parseFileTailOutput(output);
    assert.deepEqual(
      chunks.map((c) => [c.path, c.fileId, c.size, c.offset, c.data.toString()]),
      [
        ['/tmp/a.log', '64:12', 10, 4, '\nabc\n'],
        ['/tmp/b.log', '64:13', 3, 0, 'hi\n'],
      ],
    );
  });

  it('stops at a record that does not parse, and cuts data past what was asked for', function () {
    const limits = { ...DEFAULT_FILE_TAIL_LIMITS, maxBytesPerFile: 4 };
    const output = `F 1:2 100 0 ${b64('/a')}\n${b64('0123456789')}\nF 1:3 x 0 ${b64('/b')}\n${b64('no')}\n`;
    const chunks = parseFileTailOutput(output, limits);
    assert.equal(chunks.length, 1);
    assert.equal(chunks[0]!.data.toString(), '0123');
    assert.deepEqual(parseFileTailOutput(`F 1:2 5 9 ${b64('/a')}\n\n`), [], 'an offset past the size is refused');
    assert.deepEqual(parseFileTailOutput('F 1:2 5 0 $(reboot)\n\n'), []);
  });
});

describe('collector: the file tail script in a shell', function () {
  const home = mkdtempSync(path.join(os.tmpdir(), 'file-tail-'));
  const run = (patterns: string[], known: FilePosition[] = [], limits = DEFAULT_FILE_TAIL_LIMITS) =>
    parseFileTailOutput(execFileSync('sh', ['-c', fileTailScript(patterns, known, limits)], { env: { ...process.env, HOME: home }, encoding: 'utf8' }), limits);
  const idOf = (file: string) => {
    const info = statSync(file);
    return `${info.dev}:${info.ino}`;
  };

  before(function () {
    mkdirSync(path.join(home, 'logs dir'));
    writeFileSync(path.join(home, 'logs dir', 'a.log'), 'a1\na2\n');
    writeFileSync(path.join(home, 'logs dir', 'b.log'), 'b1\n');
    writeFileSync(path.join(home, 'logs dir', 'other.txt'), 'no\n');
  });
  after(() => rmSync(home, { recursive: true, force: true }));

  it('matches the patterns under ~/ (spaces in names are kept) and reads each file from its offset', function () {
    const a = path.join(home, 'logs dir', 'a.log');
    const chunks = run(['~/logs dir/*.log'], [{ fileId: idOf(a), offset: 3 }]);
    assert.deepEqual(
      chunks.map((c) => [path.basename(c.path), c.offset, c.data.toString()]),
      [
        ['a.log', 3, '\na2\n'],
        ['b.log', 0, 'b1\n'],
      ],
    );
  });

  it('follows a renamed file by its identity and starts a file that shrank again from 0', function () {
    const a = path.join(home, 'logs dir', 'a.log');
    const id = idOf(a);
    renameSync(a, path.join(home, 'logs dir', 'a.1.log'));
    appendFileSync(path.join(home, 'logs dir', 'a.1.log'), 'a3\n');
    const renamed = run(['~/logs dir/a.1.log'], [{ fileId: id, offset: 6 }]);
    assert.deepEqual([renamed[0]!.offset, renamed[0]!.data.toString()], [6, '\na3\n']);
    const shrunk = run(['~/logs dir/a.1.log'], [{ fileId: id, offset: 100 }]);
    assert.deepEqual([shrunk[0]!.offset, shrunk[0]!.data.toString()], [0, 'a1\na2\na3\n']);
  });

  it('bounds the files and the bytes of a round, and opens no named pipe or link to nothing', function () {
    for (let i = 0; i < 5; i++) writeFileSync(path.join(home, 'logs dir', `n${i}.log`), 'z'.repeat(100));
    execFileSync('mkfifo', [path.join(home, 'logs dir', 'pipe.log')]);
    symlinkSync('/nonexistent/file', path.join(home, 'logs dir', 'dangling.log'));
    const limits = { ...DEFAULT_FILE_TAIL_LIMITS, maxFiles: 3, maxBytesPerFile: 40, maxBytesPerRound: 100 };
    const chunks = run(['~/logs dir/n*.log', '~/logs dir/pipe.log', '~/logs dir/dangling.log'], [], limits);
    assert.equal(chunks.length, 3);
    assert.deepEqual(
      chunks.map((c) => c.data.length),
      [40, 40, 20],
    );
  });
});

describe('collector: the file tail script over many files', function () {
  const home = mkdtempSync(path.join(os.tmpdir(), 'file-tail-many-'));
  const names = Array.from({ length: 40 }, (_, i) => `f${String(i).padStart(2, '0')}.log`);
  const limits = { ...DEFAULT_FILE_TAIL_LIMITS, maxFiles: 16 };
  let known = new Map<string, FilePosition>();
  let start = 0;
  /** One round as the part runs it: the positions and the start carried over. */
  const round = (): string[] => {
    const output = execFileSync('sh', ['-c', fileTailScript(['~/many/*.log'], [...known.values()], limits, start)], {
      env: { ...process.env, HOME: home },
      encoding: 'utf8',
    });
    start = nextFileTailStart(output);
    const chunks = parseFileTailOutput(output, limits);
    for (const chunk of chunks) known.set(chunk.fileId, { fileId: chunk.fileId, offset: chunk.size });
    return chunks.map((chunk) => path.basename(chunk.path));
  };

  before(function () {
    mkdirSync(path.join(home, 'many'));
    for (const name of names) writeFileSync(path.join(home, 'many', name), 'x\n');
  });
  after(() => rmSync(home, { recursive: true, force: true }));

  it('reads 40 files in three rounds of 16: a file with nothing new does not count', function () {
    const rounds = [round(), round(), round(), round()];
    assert.deepEqual(
      rounds.map((files) => files.length),
      [16, 16, 8, 0],
    );
    assert.deepEqual(rounds.flat(), names);
  });

  it('takes the files in turn when all of them grow every round, so the last ones are read too', function () {
    const seen = new Set<string>();
    for (let i = 0; i < 3; i++) {
      for (const name of names) appendFileSync(path.join(home, 'many', name), `y${i}\n`);
      for (const name of round()) seen.add(name);
    }
    assert.deepEqual([...seen].sort(), names);
  });

  it('starts at the first file when the start is past the files matched', function () {
    known = new Map();
    start = 1000;
    assert.equal(round().length, 16);
  });
});
