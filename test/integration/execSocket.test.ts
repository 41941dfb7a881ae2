import * as assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, promises as fs, readFileSync } from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import type { SandboxRecord } from '../../src/core/model';
import { EXEC_SOCKET_ENV, EXEC_SOCKET_PROTOCOL, FRAME, FrameReader, encodeFrame, encodeJsonFrame, execSocketPath } from '../../src/core/execSocket/protocol';
import { runDaemon } from '../../src/daemon/daemon';
import { CLI, TestEnvironment, ensureImage, runProgram, tempDir, uniqueName, waitFor, type CliResult } from './helpers';

/** An engine that is not there: a call that reaches it took the CLI's own path, not the daemon's socket. */
const NO_ENGINE = { DOCKER_HOST: 'unix:///nonexistent/docker.sock' };
/** The CLI's own path, with the socket left alone. */
const OWN_PATH = { [EXEC_SOCKET_ENV]: 'off' };

/** An ExecResult without what differs from one run to the next. */
function stable(json: string): Record<string, unknown> {
  const { durationMs, ...rest } = JSON.parse(json) as Record<string, unknown>;
  assert.equal(typeof durationMs, 'number');
  return rest;
}

/** The frames a server sends back on one connection, until it closes it. */
function rawCall(socketPath: string, frames: Buffer[]): Promise<{ type: number; payload: string }[]> {
  return new Promise((resolve, reject) => {
    const received: { type: number; payload: string }[] = [];
    const reader = new FrameReader();
    const socket = net.createConnection(socketPath);
    socket.once('connect', () => frames.forEach((frame) => socket.write(frame)));
    socket.on('data', (chunk) => reader.push(chunk).forEach((frame) => received.push({ type: frame.type, payload: frame.payload.toString() })));
    socket.on('error', reject);
    socket.on('close', () => resolve(received));
  });
}

describe('sandbox exec over the daemon’s exec socket', function () {
  const env = new TestEnvironment();
  const socketPath = execSocketPath(env.stateDir);
  const abort = new AbortController();
  const daemonLog: string[] = [];
  let daemon: Promise<void> | undefined;
  let sandbox: SandboxRecord;
  let noSudo: SandboxRecord;

  const viaSocket = (args: string[], stdin?: string) => env.cli(args, { env: NO_ENGINE, stdin });
  const ownPath = (args: string[], stdin?: string) => env.cli(args, { env: OWN_PATH, stdin });
  const assertSame = (socket: CliResult, own: CliResult) => {
    assert.equal(socket.stdout, own.stdout, 'stdout');
    assert.equal(socket.stderr, own.stderr, 'stderr');
    assert.equal(socket.code, own.code, 'exit status');
  };

  async function running(needle: string): Promise<boolean> {
    const result = await env.controller.exec(sandbox.id, { command: ['ps', '-eo', 'args'], user: 'root' });
    return result.stdout.split('\n').some((line) => line.startsWith(needle));
  }

  /** A `sandbox exec` process whose stdout is watched as it comes. */
  function spawnExec(args: string[]): { child: ChildProcess; stdout: () => string; exit: Promise<number | null> } {
    const child = spawn(process.execPath, [CLI, 'exec', ...args], { env: { ...process.env, AGENT_SANDBOXES_HOME: env.stateDir, ...NO_ENGINE } });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.resume();
    return { child, stdout: () => stdout, exit: new Promise((resolve) => child.once('exit', (code) => resolve(code))) };
  }

  before(async function () {
    await ensureImage();
    sandbox = await env.controller.create({ name: uniqueName('exec-socket'), agentId: 'exec-socket-test' });
    noSudo = await env.controller.create({ name: uniqueName('exec-socket-nosudo'), agentId: 'exec-socket-test', profile: { sudo: false } });
    daemon = runDaemon({ stateRoot: env.stateDir, log: (line) => daemonLog.push(line), signal: abort.signal });
    await waitFor(() => existsSync(socketPath) || undefined, 10_000, 'the exec socket');
  });
  after(async () => {
    abort.abort();
    await daemon;
    await env.dispose();
  });

  it('serves from a 0600 socket in a 0700 folder of the state dir', async function () {
    const socket = await fs.stat(socketPath);
    assert.ok(socket.isSocket());
    assert.equal(socket.mode & 0o777, 0o600);
    assert.equal((await fs.stat(`${env.stateDir}/run`)).mode & 0o777, 0o700);
  });

  it('gives the same stdout, stderr and exit status as the CLI’s own path, and journals the call', async function () {
    const args = ['exec', sandbox.name, '--env', 'GREETING=hi there', '--', 'sh', '-c', 'echo "$GREETING"; echo to-err >&2; exit 3'];
    const socket = await viaSocket(args);
    const own = await ownPath(args);
    assertSame(socket, own);
    assert.equal(socket.stdout, 'hi there\n');
    assert.equal(socket.code, 3);
    const execs = (await env.store.readJournal(sandbox.id)).filter((entry) => entry.kind === 'exec' && entry.envKeys?.includes('GREETING'));
    assert.equal(execs.length, 2, 'both calls are in the journal');
  });

  it('gives the same --json result as the CLI’s own path', async function () {
    const args = ['exec', sandbox.name, '--json', '--', 'sh', '-c', 'printf out; printf err >&2; exit 4'];
    const socket = await viaSocket(args);
    const own = await ownPath(args);
    assert.equal(socket.code, 4);
    assert.equal(socket.code, own.code);
    assert.deepEqual(stable(socket.stdout), stable(own.stdout));
    assert.equal(socket.stdout.replace(/"durationMs": [\d.]+/, ''), own.stdout.replace(/"durationMs": [\d.]+/, ''));
  });

  it('gives the same errors: an unknown sandbox, a usage error, in text and JSON', async function () {
    for (const args of [
      ['exec', 'no-such-sandbox', '--', 'true'],
      ['--json', 'exec', 'no-such-sandbox', '--', 'true'],
      ['exec', sandbox.name],
      ['exec', sandbox.name, '--timeout', '0', '--', 'true'],
      ['exec', sandbox.name, '--bogus', '--', 'true'],
    ]) {
      const socket = await viaSocket(args);
      assertSame(socket, await ownPath(args));
      assert.notEqual(socket.code, 0, args.join(' '));
    }
  });

  it('refuses root on a no-sudo sandbox the same way', async function () {
    const args = ['exec', noSudo.name, '--user', 'root', '--', 'id'];
    const socket = await viaSocket(args);
    assertSame(socket, await ownPath(args));
    assert.equal(socket.code, 2);
    assert.match(socket.stderr, /sudo/);
  });

  it('passes stdin with -i, and a timeout ends the command with 124 as on the CLI’s own path', async function () {
    const piped = await viaSocket(['exec', sandbox.name, '-i', '--', 'sh', '-c', 'tr a-z A-Z'], 'through the socket\n');
    assert.equal(piped.stdout, 'THROUGH THE SOCKET\n');
    assert.equal(piped.code, 0);
    const args = ['exec', sandbox.name, '--timeout', '1s', '--', 'sleep', '30'];
    const socket = await viaSocket(args);
    assertSame(socket, await ownPath(args));
    assert.equal(socket.code, 124);
  });

  it('passes a large stdin whole through its window, and lets a command that never reads stdin end', async function () {
    const size = 20 * 1024 * 1024;
    const piped = await viaSocket(['exec', sandbox.name, '-i', '--', 'sh', '-c', 'sleep 1; sha256sum'], 'x'.repeat(size));
    const own = await ownPath(['exec', sandbox.name, '-i', '--', 'sh', '-c', 'sha256sum'], 'x'.repeat(size));
    assert.equal(piped.code, 0, piped.stderr);
    assert.equal(piped.stdout, own.stdout);
    // An endless stdin the command never reads: the client sends only within its window, and the command's end ends it.
    const countFile = path.join(tempDir('exec-socket-stdin-'), 'written');
    const producer = `let n = 0; const b = Buffer.alloc(65536, 121);
      const w = () => { while (process.stdout.write(b)) n += b.length; n += b.length; process.stdout.once('drain', w); };
      process.stdout.on('error', () => process.exit(0));
      process.on('exit', () => require('fs').writeFileSync(${JSON.stringify(countFile)}, String(n)));
      w();`;
    const pipeline = `"${process.execPath}" -e "$PRODUCER" | "${process.execPath}" "${CLI}" exec ${sandbox.name} -i -- sh -c 'sleep 3; echo done'`;
    const endless = await runProgram('bash', ['-c', pipeline], { env: { AGENT_SANDBOXES_HOME: env.stateDir, PRODUCER: producer, ...NO_ENGINE } });
    assert.equal(endless.stdout, 'done\n');
    assert.equal(endless.code, 0, endless.stderr);
    // Its window, the pipes' and the engine's buffers: a few MiB, where an unbounded daemon takes hundreds in 3 s.
    const written = Number(await waitFor(() => (existsSync(countFile) ? readFileSync(countFile, 'utf8') : undefined), 10_000, 'the producer to end'));
    await fs.rm(path.dirname(countFile), { recursive: true, force: true });
    assert.ok(written > 0 && written < 16 * 1024 * 1024, `the producer wrote ${written} bytes before the command ended`);
  });

  it('cuts off a client that sends stdin past its window, and ends its command', async function () {
    const socket = net.createConnection(socketPath);
    const reader = new FrameReader();
    const received: number[] = [];
    let window = 0;
    let closed = false;
    socket.once('close', () => (closed = true));
    socket.on('error', () => undefined);
    socket.on('data', (chunk) => {
      for (const frame of reader.push(chunk)) {
        received.push(frame.type);
        if (frame.type === FRAME.wantStdin) window = (JSON.parse(frame.payload.toString()) as { window: number }).window;
      }
    });
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write(encodeJsonFrame(FRAME.hello, { protocol: EXEC_SOCKET_PROTOCOL, argv: ['exec', sandbox.name, '-i', '--', 'sleep', '322'] }));
    await waitFor(() => (window > 0 ? true : undefined), 20_000, 'the server to ask for stdin');
    await waitFor(async () => ((await running('sleep 322')) ? true : undefined), 20_000, 'the command to start');
    // A window and 32 MiB more at once, without waiting to hear what was taken: more than a command that never reads can take.
    const piece = Buffer.alloc(64 * 1024, 'z');
    for (let sent = 0; sent < window + 32 * 1024 * 1024 && !socket.destroyed; sent += piece.length) {
      socket.write(encodeFrame(FRAME.stdin, piece));
    }
    await waitFor(() => closed || undefined, 30_000, 'the server to cut the client off');
    assert.ok(!received.includes(FRAME.exit), 'the server closed the connection instead of reporting an end');
    await waitFor(async () => ((await running('sleep 322')) ? undefined : true), 20_000, 'the command to be ended');
    const after = await viaSocket(['exec', sandbox.name, '--', 'echo', 'still serving']);
    assert.equal(after.stdout, 'still serving\n');
  });

  it('streams output as it comes, and a killed client kills its command in the sandbox', async function () {
    const call = spawnExec([sandbox.name, '--', 'sh', '-c', 'echo first; exec sleep 317']);
    await waitFor(() => (call.stdout() === 'first\n' ? true : undefined), 20_000, 'the first line before the command ends');
    assert.ok(await running('sleep 317'));
    call.child.kill('SIGKILL');
    await call.exit;
    await waitFor(async () => ((await running('sleep 317')) ? undefined : true), 20_000, 'the command to be killed');
  });

  it('ends the command on SIGTERM with the CLI’s status and message', async function () {
    const call = spawnExec([sandbox.name, '--', 'sh', '-c', 'echo ready; exec sleep 318']);
    let stderr = '';
    call.child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    await waitFor(() => (call.stdout() === 'ready\n' ? true : undefined), 20_000, 'the command to start');
    call.child.kill('SIGTERM');
    assert.equal(await call.exit, 130);
    assert.equal(stderr, 'sandbox: the command was cancelled and killed.\n');
    await waitFor(async () => ((await running('sleep 318')) ? undefined : true), 20_000, 'the command to be killed');
  });

  it('ends the command quietly when the reader of its output goes away (`| head`)', async function () {
    const pipeline = `"${process.execPath}" "${CLI}" exec ${sandbox.name} -- sh -c 'while :; do echo y319; done' | head -1; echo "status \${PIPESTATUS[0]}"`;
    const result = await runProgram('bash', ['-c', pipeline], { env: { AGENT_SANDBOXES_HOME: env.stateDir, ...NO_ENGINE } });
    const own = await runProgram('bash', ['-c', pipeline], { env: { AGENT_SANDBOXES_HOME: env.stateDir, ...OWN_PATH } });
    assert.equal(result.stdout, own.stdout);
    assert.equal(result.stderr, own.stderr);
    assert.equal(result.stdout, 'y319\nstatus 130\n');
    assert.equal(result.stderr, '');
    await waitFor(async () => ((await running('sh -c while :; do echo y319')) ? undefined : true), 20_000, 'the command to be killed');
  });

  it('refuses another protocol, a malformed hello and a huge frame, and keeps serving', async function () {
    const other = await rawCall(socketPath, [encodeJsonFrame(FRAME.hello, { protocol: EXEC_SOCKET_PROTOCOL + 1, argv: ['exec', sandbox.name, '--', 'true'] })]);
    assert.deepEqual(
      other.map((frame) => frame.type),
      [FRAME.refused],
    );
    const malformed = await rawCall(socketPath, [encodeFrame(FRAME.hello, '{"protocol": 1, "argv": [1, 2]')]);
    assert.deepEqual(
      malformed.map((frame) => frame.type),
      [FRAME.refused],
    );
    const notExec = await rawCall(socketPath, [encodeJsonFrame(FRAME.hello, { protocol: EXEC_SOCKET_PROTOCOL, argv: ['rm', sandbox.name] })]);
    assert.deepEqual(
      notExec.map((frame) => frame.type),
      [FRAME.refused],
    );
    const huge = Buffer.alloc(5);
    huge.writeUInt32BE(0xffffffff, 0);
    assert.deepEqual(
      (await rawCall(socketPath, [huge])).map((frame) => frame.type),
      [FRAME.refused],
    );
    const after = await viaSocket(['exec', sandbox.name, '--', 'echo', 'still serving']);
    assert.equal(after.stdout, 'still serving\n');
    assert.equal(after.code, 0);
  });

  it('is not reached from another state dir', async function () {
    const otherState = tempDir('exec-socket-other-');
    try {
      const args = [CLI, 'exec', sandbox.name, '--', 'echo', 'reached'];
      const other = await runProgram(process.execPath, args, { env: { AGENT_SANDBOXES_HOME: otherState, ...NO_ENGINE } });
      const own = await runProgram(process.execPath, args, { env: { AGENT_SANDBOXES_HOME: otherState, ...NO_ENGINE, ...OWN_PATH } });
      assert.notEqual(other.code, 0);
      assert.equal(other.stdout, '');
      assert.deepEqual(other, own);
    } finally {
      await fs.rm(otherState, { recursive: true, force: true });
    }
  });

  it('is not used when its mode is other than 0600', async function () {
    await fs.chmod(socketPath, 0o666);
    try {
      const result = await viaSocket(['exec', sandbox.name, '--', 'true']);
      assert.equal(result.code, 4, `the CLI's own path met the missing engine: ${result.stderr}`);
    } finally {
      await fs.chmod(socketPath, 0o600);
    }
    assert.equal((await viaSocket(['exec', sandbox.name, '--', 'true'])).code, 0);
  });

  it('falls back to the CLI’s own path when the daemon is gone and its socket file is left over', async function () {
    abort.abort();
    await daemon;
    daemon = undefined;
    assert.ok(!existsSync(socketPath), 'a daemon that stops removes its socket');
    // A socket file whose process died without removing it.
    const holder = spawn(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(socketPath)}, () => console.log('up'))`]);
    await new Promise((resolve) => holder.stdout.once('data', resolve));
    holder.kill('SIGKILL');
    await new Promise((resolve) => holder.once('exit', resolve));
    await fs.chmod(socketPath, 0o600);
    assert.ok((await fs.stat(socketPath)).isSocket());
    const result = await env.cli(['exec', sandbox.name, '--', 'echo', 'own path']);
    assert.equal(result.stdout, 'own path\n');
    assert.equal(result.code, 0);
    const refused = await viaSocket(['exec', sandbox.name, '--', 'true']);
    assert.equal(refused.code, 4, 'no socket answered, so the CLI met the missing engine itself');
  });

  it('is served by `sandbox mcp` too, which takes over a left-over socket file and removes its own at the end', async function () {
    assert.ok(existsSync(socketPath), 'the file left by the test before');
    const mcp = spawn(process.execPath, [CLI, 'mcp'], { env: { ...process.env, AGENT_SANDBOXES_HOME: env.stateDir }, stdio: ['pipe', 'ignore', 'ignore'] });
    const exited = new Promise((resolve) => mcp.once('exit', resolve));
    try {
      await waitFor(
        async () => ((await viaSocket(['exec', sandbox.name, '--', 'echo', 'via mcp'])).stdout === 'via mcp\n' ? true : undefined),
        20_000,
        'the mcp server to serve the socket',
      );
    } finally {
      mcp.stdin.end();
      await exited;
    }
    assert.ok(!existsSync(socketPath), 'the server removed its socket');
  });
});
