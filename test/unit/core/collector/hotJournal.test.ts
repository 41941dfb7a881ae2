import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CollectorDatabase } from '../../../../src/core/collector/database';

// Past the page cache (2 MiB): pages spill to the file, and the journal is there through most of a transaction.
const BATCH = 30_000;
const MAGIC = 'd9d505f920a163d7';

/** A writer that commits batches of BATCH log lines until it is killed. */
function writerScript(stateRoot: string): string {
  const store = path.resolve(__dirname, '../../../../src/core/collector/store.js');
  return `
const { CollectorStore } = require(${JSON.stringify(store)});
const store = CollectorStore.openForWriting(${JSON.stringify(stateRoot)});
for (let round = 0; ; round++) {
  const logs = Array.from({ length: ${BATCH} }, (_, i) => ({ time: round, sandboxId: 'sb', source: 'exec', stream: 'stdout', line: 'line ' + i + ' '.repeat(i % 90) }));
  store.ingest({ logs });
  process.stdout.write('committed\\n');
  if (round % 4 === 3) store.db.run('DELETE FROM logs WHERE time = ?', [round - 2]);
}`;
}

describe('collector database: a writer killed mid-commit', function () {
  this.timeout(60_000);
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(path.join(os.tmpdir(), 'collector-kill-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('opens a new file when only a journal is left (the database was moved away), as SQLite would', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'collector-journal-only-'));
    try {
      // A journal header as SQLite writes it (magic, 1 page, nonce, 1 page before, sector 512, page 4096).
      const header = Buffer.alloc(512);
      Buffer.from([0xd9, 0xd5, 0x05, 0xf9, 0x20, 0xa1, 0x63, 0xd7]).copy(header);
      [1, 7, 1, 512, 4096].forEach((value, i) => header.writeUInt32BE(value, 8 + 4 * i));
      writeFileSync(path.join(dir, 'collector.db-journal'), Buffer.concat([header, Buffer.alloc(4104, 7)]));
      const db = CollectorDatabase.openForWriting(dir);
      db.close();
      assert.equal(existsSync(path.join(dir, 'collector.db-journal')), false);
      assert.equal(existsSync(path.join(dir, 'collector.db.lock')), false, 'the lock taken for the playback is given back');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('leaves a journal the next writer rolls back: the file stays whole and holds whole transactions only', async () => {
    const script = path.join(dir, 'writer.js');
    writeFileSync(script, writerScript(dir));
    let hot = 0;
    // Until two kills landed mid-commit (most of the writer's time is in one), ten rounds at most.
    for (let round = 0; round < 10 && !(hot >= 2 && round >= 3); round++) {
      const child = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'ignore'] });
      // Killed a moment after its second commit: the store is open and a transaction under way.
      await new Promise<void>((resolve) => {
        let commits = 0;
        child.stdout.on('data', (chunk: Buffer) => {
          commits += chunk.toString().split('committed').length - 1;
          if (commits >= 2) resolve();
        });
        child.once('exit', () => resolve());
      });
      await new Promise((resolve) => setTimeout(resolve, 20 + round * 37));
      child.kill('SIGKILL');
      await new Promise((resolve) => child.once('exit', resolve));
      try {
        if (readFileSync(path.join(dir, 'collector.db-journal')).subarray(0, 8).toString('hex') === MAGIC) hot++;
      } catch {
        // no journal: killed between transactions
      }
      const db = CollectorDatabase.openForWriting(dir);
      try {
        assert.ok(!existsSync(path.join(dir, 'collector.db-journal')), 'the journal was played back and removed');
        assert.equal(db.get<{ integrity_check: string }>('PRAGMA integrity_check')?.integrity_check, 'ok', `round ${round}`);
        const rows = Number(db.get<{ n: number }>('SELECT count(*) AS n FROM logs')?.n);
        assert.equal(rows % BATCH, 0, `${rows} rows: a transaction half in`);
      } finally {
        db.close();
      }
    }
    assert.ok(hot > 0, 'no kill landed mid-commit');
  });
});
