import * as assert from 'node:assert/strict';
import type { SandboxRecord } from '../../src/core/model';
import { isSandboxError } from '../../src/core/errors';
import { TestEnvironment, ensureImage, uniqueName } from './helpers';

describe('exec in a Docker sandbox', function () {
  const env = new TestEnvironment();
  let sandbox: SandboxRecord;

  before(async function () {
    await ensureImage();
    sandbox = await env.controller.create({ name: uniqueName('exec'), agentId: 'exec-test' });
  });
  after(() => env.dispose());

  const run = (command: string[] | string, extra: object = {}) => env.controller.exec(sandbox.id, { command, ...extra });

  /** Processes in the sandbox whose command line contains `needle`, not counting the probe itself. */
  async function processesMatching(needle: string): Promise<string[]> {
    const result = await env.controller.exec(sandbox.id, { command: ['ps', '-eo', 'pid,args'], user: 'root' });
    return result.stdout.split('\n').filter((line) => line.includes(needle));
  }

  it('returns exit codes as results: 0, 7, 126 and 127', async function () {
    assert.equal((await run(['true'])).exitCode, 0);
    assert.equal((await run('exit 7')).exitCode, 7);
    assert.equal((await run('printf "x" > /tmp/not-executable; chmod -x /tmp/not-executable; /tmp/not-executable')).exitCode, 126);
    assert.equal((await run('no-such-program-anywhere')).exitCode, 127);
  });

  it('reports a program that cannot start as a clear error', async function () {
    await assert.rejects(run(['no-such-program-anywhere']), (error: unknown) => {
      assert.ok(isSandboxError(error, 'command-failed-to-start'));
      assert.match(error.message, /no-such-program-anywhere was not found/);
      return true;
    });
    await assert.rejects(run(['true'], { cwd: '/no/such/dir' }), (error: unknown) => isSandboxError(error, 'command-failed-to-start'));
  });

  it('keeps stdout and stderr apart and streams them as they come', async function () {
    const seen: string[] = [];
    const result = await run('echo out; echo err >&2; sleep 0.3; echo late', {
      onStdout: (chunk: Buffer) => seen.push(`${Date.now()} ${chunk.toString()}`),
    });
    assert.equal(result.stdout, 'out\nlate\n');
    assert.equal(result.stderr, 'err\n');
    assert.equal(seen.length, 2, 'the two writes arrive as two chunks, 0.3 s apart');
    const [first, second] = seen.map((line) => Number(line.split(' ')[0]));
    assert.ok(second! - first! >= 200, `chunks ${second! - first!} ms apart`);
  });

  it('passes 1 MB of output whole, and says when a cap cut it', async function () {
    const whole = await run(['python3', '-c', 'import sys; sys.stdout.write("a" * 1_000_000)']);
    assert.equal(whole.stdoutBytes, 1_000_000);
    assert.equal(whole.stdout.length, 1_000_000);
    assert.equal(whole.truncated, false);
    const capped = await run(['python3', '-c', 'import sys; sys.stdout.write("b" * 1_000_000)'], { maxOutputBytes: 1000 });
    assert.equal(capped.stdout.length, 1000);
    assert.equal(capped.stdoutBytes, 1_000_000);
    assert.equal(capped.truncated, true);
  });

  it('feeds stdin and honours cwd, env and user', async function () {
    const echoed = await run(['wc', '-c'], { stdin: 'x'.repeat(12345) });
    assert.equal(echoed.stdout.trim(), '12345');
    const context = await run('pwd; echo "$GREETING"; id -un', { cwd: '/tmp', env: { GREETING: 'hi there' } });
    assert.equal(context.stdout, '/tmp\nhi there\nagent\n');
    assert.equal((await run(['id', '-u'], { user: 'root' })).stdout.trim(), '0');
  });

  it('kills the command and its children on timeout', async function () {
    const started = Date.now();
    const result = await run('sleep 301 & sleep 302; wait', { timeoutMs: 500 });
    assert.equal(result.timedOut, true);
    assert.equal(result.exitCode, null);
    assert.ok(result.signal === 'SIGTERM' || result.signal === 'SIGKILL', `signal ${result.signal}`);
    assert.ok(Date.now() - started < 5000);
    assert.deepEqual(await processesMatching('sleep 30'), []);
  });

  it('kills a command that ignores SIGTERM', async function () {
    const result = await run(['sh', '-c', 'trap "" TERM; sleep 303 & wait; sleep 303'], { timeoutMs: 300 });
    assert.equal(result.timedOut, true);
    assert.equal(result.signal, 'SIGKILL');
    assert.deepEqual(await processesMatching('sleep 303'), []);
  });

  it('kills the command when cancelled through an AbortSignal', async function () {
    const abort = new AbortController();
    setTimeout(() => abort.abort(), 400);
    const result = await run(['python3', '-c', 'import time; time.sleep(304)'], { signal: abort.signal });
    assert.equal(result.cancelled, true);
    assert.equal(result.timedOut, false);
    assert.deepEqual(await processesMatching('time.sleep(304)'), []);
  });

  it('journals every exec without environment values', async function () {
    await run(['echo', 'journalled'], { env: { SECRET_TOKEN: 'do-not-log-me' } });
    const journal = await env.store.readJournal(sandbox.id);
    const entry = journal.find((e) => e.kind === 'exec' && Array.isArray(e.command) && e.command[1] === 'journalled');
    assert.ok(entry && entry.kind === 'exec');
    assert.equal(entry.exitCode, 0);
    assert.equal(entry.stdout, 'journalled\n');
    assert.deepEqual(entry.envKeys, ['SECRET_TOKEN']);
    assert.ok(!JSON.stringify(journal).includes('do-not-log-me'));
  });
});
