import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { SandboxController } from '../../src/core/controller';
import { isSandboxError } from '../../src/core/errors';
import type { ExecRequest, SandboxRecord } from '../../src/core/model';
import { DockerProvider } from '../../src/core/providers/docker';
import { dockerExec } from '../../src/core/transport/dockerExec';
import { EXEC_AGENT_NAME } from '../../src/core/transport/execAgentScript';
import { TestEnvironment, docker, ensureImage, uniqueName, waitFor } from './helpers';

/** Behaviour of the agent channel itself; what it shares with plain docker exec is in exec.test.ts. */
describe('the exec agent channel', function () {
  const env = new TestEnvironment();
  const provider = new DockerProvider({ execChannel: 'agent' });
  const controller = new SandboxController({ store: env.store, providers: { docker: provider } });
  let sandbox: SandboxRecord;

  before(async function () {
    await ensureImage();
    sandbox = await controller.create({ name: uniqueName('agent'), agentId: 'agent-test' });
  });
  after(async () => {
    controller.dispose();
    provider.dispose();
    await env.dispose();
  });

  const run = (command: string[] | string, extra: Partial<ExecRequest> = {}) => controller.exec(sandbox.id, { command, ...extra });

  /** A command run the plain way (its own engine exec, as root): a view from outside the agent. */
  const outside = (ref: string, command: string[]) => dockerExec(docker, ref, { command }, { user: 'root', cwd: '/' });

  /** Exec agents running in a container. */
  async function agents(ref = sandbox.providerRef!): Promise<string[]> {
    return (await outside(ref, ['pgrep', '-f', EXEC_AGENT_NAME])).stdout.split('\n').filter(Boolean);
  }

  async function running(ref: string, pattern: string): Promise<boolean> {
    return (await outside(ref, ['pgrep', '-f', pattern])).exitCode === 0;
  }

  it('runs 20 commands at once over one channel, each with its own output', async function () {
    await run(['true']);
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        run(
          `read line; for n in 1 2 3; do echo "$line $n"; echo "err ${i} $n" >&2; sleep 0.0${i % 7}; done; head -c ${i * 10_000} /dev/zero | tr '\\0' x; exit ${i}`,
          {
            stdin: `line ${i}\n`,
          },
        ),
      ),
    );
    results.forEach((result, i) => {
      assert.equal(result.exitCode, i);
      assert.equal(result.stdout, `line ${i} 1\nline ${i} 2\nline ${i} 3\n${'x'.repeat(i * 10_000)}`);
      assert.equal(result.stderr, `err ${i} 1\nerr ${i} 2\nerr ${i} 3\n`);
    });
    assert.equal((await agents()).length, 1, 'one agent served them all');
  });

  it('round-trips 5 MB of stdin, given whole or as a slow stream', async function () {
    const data = randomBytes(5 * 1024 * 1024);
    const digest = createHash('sha256').update(data).digest('hex');
    assert.equal((await run(['wc', '-c'], { stdin: data })).stdout.trim(), String(data.length));
    assert.equal((await run(['sha256sum'], { stdin: data })).stdout.split(' ')[0], digest);
    const echoed: Buffer[] = [];
    await run(['cat'], { stdin: data, onStdout: (chunk) => echoed.push(chunk) });
    assert.ok(Buffer.concat(echoed).equals(data), 'cat gives back the same bytes');
    // A reader that starts late: the source has to wait for it instead of piling up.
    const pieces = Array.from({ length: 80 }, (_, i) => data.subarray(i * 65536, (i + 1) * 65536));
    const late = await run('sleep 0.5; sha256sum', { stdin: Readable.from(pieces) });
    assert.equal(late.stdout.split(' ')[0], digest);
  });

  it('streams 50 MB of output, keeping only the cap', async function () {
    const result = await run('head -c 50000000 /dev/zero', { maxOutputBytes: 1000 });
    assert.equal(result.stdoutBytes, 50_000_000);
    assert.equal(result.stdout.length, 1000);
    assert.equal(result.truncated, true);
  });

  it('fails the command in flight with a clear error when the agent is killed, then reopens', async function () {
    await run(['true']);
    const ref = sandbox.providerRef!;
    const inFlight = run(['sleep', '307']);
    inFlight.catch(() => undefined); // judged below, once the agent is gone
    await waitFor(() => running(ref, 'sleep 307'), 10_000, 'the command to start');
    await outside(ref, ['pkill', '-f', EXEC_AGENT_NAME]);
    await assert.rejects(inFlight, (error: unknown) => {
      assert.ok(isSandboxError(error, 'provider-error'), String(error));
      assert.match(error.message, /^The connection to the sandbox was lost/);
      return true;
    });
    // Told to stop, the agent took its command down with it.
    await waitFor(async () => !(await running(ref, 'sleep 307')), 5000, 'the command to end');
    assert.equal((await run(['echo', 'back'])).stdout, 'back\n');
    assert.equal((await agents()).length, 1);
  });

  it('recovers from an agent killed without a chance to clean up', async function () {
    const ref = sandbox.providerRef!;
    const inFlight = run(['sleep', '308']);
    inFlight.catch(() => undefined); // judged below, once the agent is gone
    await waitFor(() => running(ref, 'sleep 308'), 10_000, 'the command to start');
    await outside(ref, ['pkill', '-KILL', '-o', '-f', EXEC_AGENT_NAME]); // the agent alone, not a guard it forked
    await assert.rejects(inFlight, /connection to the sandbox was lost/);
    // No time to clean up, but the command's guard kills its tree when the agent is gone.
    await waitFor(async () => !(await running(ref, 'sleep 308')), 5000, 'the command to end with its agent');
    assert.equal((await run(['echo', 'back'])).stdout, 'back\n');
  });

  it('gives a command no descriptor but its stdin, stdout and stderr', async function () {
    const probe = 'ls /proc/self/fd | tr "\\n" " "'; // the fourth is the folder ls reads
    for (let i = 0; i < 3; i++) {
      assert.equal((await run(probe)).stdout, '0 1 2 3 ');
      assert.equal((await run(probe, { stdin: 'x' })).stdout, '0 1 2 3 ');
    }
  });

  it('gives up on an agent that stops answering, and replaces it', async function () {
    this.timeout(60_000);
    const ref = sandbox.providerRef!;
    await run(['true']);
    await outside(ref, ['pkill', '-STOP', '-f', EXEC_AGENT_NAME]);
    await assert.rejects(run(['echo', 'lost']), /connection to the sandbox was lost .*did not answer within 15 s/);
    assert.equal((await run(['echo', 'back'])).stdout, 'back\n');
    // Woken up, the old agent finds its connection closed and leaves.
    await outside(ref, ['pkill', '-CONT', '-f', EXEC_AGENT_NAME]);
    await waitFor(async () => (await agents()).length === 1, 10_000, 'the old agent to leave');
  });

  it('works again after the sandbox was stopped and started', async function () {
    assert.equal((await run(['echo', 'before'])).stdout, 'before\n');
    const inFlight = run(['sleep', '309']);
    inFlight.catch(() => undefined); // judged below, once the agent is gone
    await waitFor(() => running(sandbox.providerRef!, 'sleep 309'), 10_000, 'the command to start');
    await controller.stop(sandbox.id);
    await assert.rejects(inFlight, /connection to the sandbox was lost/);
    await controller.start(sandbox.id);
    assert.equal((await run(['echo', 'after'])).stdout, 'after\n');
    assert.equal((await agents()).length, 1);
  });

  it('stops the commands in flight when the provider is disposed', async function () {
    const own = new DockerProvider({ execChannel: 'agent' });
    const ref = sandbox.providerRef!;
    const inFlight = own.exec(ref, { command: ['sleep', '310'] });
    inFlight.catch(() => undefined);
    await waitFor(() => running(ref, 'sleep 310'), 10_000, 'the command to start');
    own.dispose();
    await assert.rejects(inFlight, /closed while the command ran/);
    await waitFor(async () => !(await running(ref, 'sleep 310')), 5000, 'the command to be stopped');
  });

  it('does not keep an idle process alive, and its agent ends with that process', async function () {
    const before = (await agents()).length;
    const script = [
      `const { DockerProvider } = require(${JSON.stringify(path.resolve(__dirname, '../../src/core/providers/docker'))});`,
      `new DockerProvider().exec(${JSON.stringify(sandbox.providerRef)}, { command: ['echo', 'from a child'] })`,
      '  .then((result) => process.stdout.write(result.stdout));',
    ].join('\n');
    const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    const code = await new Promise<number | null>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error('the process did not end by itself within 20 s'));
      }, 20_000);
      child.on('close', (exitCode) => {
        clearTimeout(timer);
        resolve(exitCode);
      });
    });
    assert.equal(code, 0);
    assert.equal(stdout, 'from a child\n');
    await waitFor(async () => (await agents()).length === before, 10_000, "the child's agent to end");
  });

  it("falls back to the sandbox's SSH connection where the image has no python3", async function () {
    const bare = await controller.create({ name: uniqueName('nopy'), agentId: 'agent-test' });
    await outside(bare.providerRef!, ['sh', '-c', 'rm -f /usr/bin/python3*']);
    // The first command finds no agent and runs through the engine; later ones go over SSH.
    const viaSsh: boolean[] = [];
    for (const word of ['first', 'second', 'third']) {
      const result = await controller.exec(bare.id, { command: `echo ${word}; echo "\${SSH_CONNECTION:+ssh}"` });
      assert.equal(result.stdout.split('\n')[0], word);
      viaSsh.push(result.stdout.includes('ssh'));
    }
    assert.deepEqual(viaSsh, [false, true, true]);
    await assert.rejects(controller.exec(bare.id, { command: ['no-such-program'] }), /no-such-program was not found/);
    assert.deepEqual(await agents(bare.providerRef!), []);
  });

  it('runs `true` far faster than one engine exec per command', async function () {
    const plain = new SandboxController({ store: env.store, providers: { docker: new DockerProvider({ execChannel: 'docker' }) } });
    const measure = async (target: SandboxController, count: number) => {
      await target.exec(sandbox.id, { command: ['true'] });
      const samples: number[] = [];
      for (let i = 0; i < count; i++) {
        const started = performance.now();
        await target.exec(sandbox.id, { command: ['true'] });
        samples.push(performance.now() - started);
      }
      samples.sort((a, b) => a - b);
      const at = (p: number) => samples[Math.min(count - 1, Math.ceil((p / 100) * count) - 1)]!;
      return { p50: at(50), p95: at(95) };
    };
    const viaAgent = await measure(controller, 100);
    const viaEngine = await measure(plain, 100);
    const line = (name: string, m: { p50: number; p95: number }) => `${name}: p50 ${m.p50.toFixed(1)} ms, p95 ${m.p95.toFixed(1)} ms`;
    console.log(`      exec of true over 100 calls through the controller\n      ${line('agent ', viaAgent)}\n      ${line('docker', viaEngine)}`);
    assert.ok(viaAgent.p50 < viaEngine.p50 / 2, `${viaAgent.p50} ms against ${viaEngine.p50} ms`);
  });
});
