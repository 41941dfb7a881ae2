import * as assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { SandboxError } from '../../../../../src/core/errors';
import {
  LogLineQueue,
  MAX_LOG_LINE_CHARS,
  PAUSE_ABOVE_LINES,
  dropletLogCommand,
  dropletLogs,
} from '../../../../../src/core/providers/digitalocean/dropletLogs';

/** A source that counts its pauses and resumes, as an SSH channel would be paused. */
function channel(): PassThrough & { pauses: number; resumes: number } {
  const stream = new PassThrough() as PassThrough & { pauses: number; resumes: number };
  stream.pauses = 0;
  stream.resumes = 0;
  const pause = stream.pause.bind(stream);
  const resume = stream.resume.bind(stream);
  stream.pause = () => {
    stream.pauses++;
    return pause();
  };
  stream.resume = () => {
    stream.resumes++;
    return resume();
  };
  return stream;
}

describe("a droplet's log", function () {
  it('pauses the channel above the bound of lines waiting, and resumes it once read down, losing none', async function () {
    const stdout = channel();
    const queue = new LogLineQueue([{ stream: 'stdout', source: stdout }]);
    const total = 5 * PAUSE_ABOVE_LINES;
    // Written in chunks that split lines, as a channel delivers them.
    const text = Array.from({ length: total }, (_, index) => `line ${index}\n`).join('');
    for (let at = 0; at < text.length; at += 777) stdout.write(text.slice(at, at + 777));
    await new Promise((resolve) => setImmediate(resolve));
    assert.ok(queue.isPaused, 'the channel is paused while nobody reads');
    assert.ok(queue.length <= PAUSE_ABOVE_LINES + 777, `${queue.length} lines wait, past the bound`);
    assert.equal(stdout.pauses, 1);
    stdout.end();
    const seen: string[] = [];
    for await (const line of queue.lines()) seen.push(line.text);
    assert.equal(seen.length, total);
    assert.equal(seen[0], 'line 0');
    assert.equal(seen[total - 1], `line ${total - 1}`);
    assert.ok(stdout.resumes >= 1, 'resumed once read down');
    assert.equal(queue.isPaused, false);
  });

  it('cuts a line past its bound, keeps what follows it, and makes every line visible', async function () {
    const stdout = channel();
    const stderr = channel();
    const queue = new LogLineQueue([
      { stream: 'stdout', source: stdout },
      { stream: 'stderr', source: stderr },
    ]);
    // A line without end for a while: only one past the bound is ever kept of it.
    for (let index = 0; index < 50; index++) stdout.write('\x1b[2J'.repeat(1000));
    stdout.write('\nnext\r\n\u202eevil\u2028\nlast without newline');
    stdout.end();
    stderr.end('sudo: a password is required\n');
    const lines: { stream: string; text: string }[] = [];
    for await (const line of queue.lines()) lines.push(line);
    const out = lines.filter((line) => line.stream === 'stdout').map((line) => line.text);
    assert.equal(out.length, 4);
    // The bound counts the droplet's characters (4 for each `ESC [ 2 J`), before they are made visible.
    assert.equal(out[0], `${'\\x1b[2J'.repeat(MAX_LOG_LINE_CHARS / 4)}…`);
    assert.deepEqual(out.slice(1), ['next', '\\u202eevil\\u2028', 'last without newline']);
    assert.deepEqual(
      lines.filter((line) => line.stream === 'stderr').map((line) => line.text),
      ['sudo: a password is required'],
    );
  });

  it('reads the journal where systemd runs, else cloud-init output, with the tail and follow asked for', function () {
    const all = dropletLogCommand({});
    assert.match(all, /if \[ -d \/run\/systemd\/system \] .*exec \$as journalctl -b --no-pager --quiet -o short-iso-precise; fi/);
    assert.match(all, /exec \$as tail -n \+1 \/var\/log\/cloud-init-output\.log$/);
    const followed = dropletLogCommand({ tail: 20, follow: true });
    assert.match(followed, /journalctl -b .* -n 20 -f; fi/);
    assert.match(followed, /tail -n 20 -F \/var\/log\/cloud-init-output\.log$/);
  });

  it('has no lines for a droplet that does not run (hibernated, powered off), and tells other failures', async function () {
    const notRunning = () => Promise.reject(new SandboxError('wrong-state', 'The sandbox behind droplet:1 is not running; start it first.'));
    const lines = [];
    for await (const line of dropletLogs(notRunning, { tail: 10 })) lines.push(line);
    assert.deepEqual(lines, []);
    const unreachable = () => Promise.reject(new SandboxError('provider-error', 'DigitalOcean cannot be reached.'));
    await assert.rejects(async () => {
      for await (const line of dropletLogs(unreachable, {})) lines.push(line);
    }, /cannot be reached/);
  });
});
