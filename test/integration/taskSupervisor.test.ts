import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { SandboxController } from '../../src/core/controller';
import { isSandboxError } from '../../src/core/errors';
import type { ExecRequest, SandboxRecord } from '../../src/core/model';
import {
  attemptPaths,
  cancelSupervised,
  inspectSupervised,
  launchSupervised,
  readSupervisedOutput,
  removeAttemptDir,
  type AttemptPaths,
  type LaunchRequest,
  type SandboxRun,
  type SupervisedState,
} from '../../src/core/tasks/supervisor';
import { TestEnvironment, controllersPerChannel, ensureImage, uniqueName, waitFor } from './helpers';

/** A process with its own controller that launches a task and says so, then waits to be killed: argv state dir, sandbox, paths, request. */
const LAUNCHER_SCRIPT = `
const [stateDir, id, paths, request] = process.argv.slice(1);
const { SandboxController } = require(${JSON.stringify(path.join(__dirname, '../../src/core/controller.js'))});
const { StateStore } = require(${JSON.stringify(path.join(__dirname, '../../src/core/store/stateStore.js'))});
const { launchSupervised } = require(${JSON.stringify(path.join(__dirname, '../../src/core/tasks/supervisor.js'))});
const controller = new SandboxController({ store: new StateStore(stateDir) });
launchSupervised((r) => controller.inspectExec(id, r), JSON.parse(paths), JSON.parse(request)).then(
  (said) => { process.stdout.write(said + '\\n'); setInterval(() => undefined, 1000); },
  (error) => { process.stderr.write(String(error)); process.exit(1); },
);
`;

describe('task supervisor in a Docker sandbox', function () {
  const env = new TestEnvironment();
  let controller = env.controller;
  let sandbox: SandboxRecord;
  let attempt = 0;

  before(async function () {
    await ensureImage();
    sandbox = await controller.create({ name: uniqueName('supervisor'), agentId: 'supervisor-test' });
  });
  after(async () => {
    controller.dispose();
    await env.dispose();
  });

  const run: SandboxRun = (request: ExecRequest) => controller.inspectExec(sandbox.id, request);
  const nextPaths = (): AttemptPaths => attemptPaths(sandbox, uniqueName('task'), ++attempt);
  const task = (command: string[] | string, extra: Partial<LaunchRequest> = {}): LaunchRequest => ({ command, cwd: sandbox.workdir, env: {}, ...extra });
  const sh = async (script: string): Promise<string> => (await run({ command: ['sh', '-c', script] })).stdout;

  async function ended(paths: AttemptPaths, timeoutMs = 30_000): Promise<SupervisedState> {
    return waitFor(
      async () => {
        const state = await inspectSupervised(run, paths);
        return state.exit ? state : undefined;
      },
      timeoutMs,
      `the end of the command in ${paths.dir}`,
    );
  }

  async function output(paths: AttemptPaths, stream: 'stdout' | 'stderr'): Promise<string> {
    return (await readSupervisedOutput(run, paths, stream, 0)).data.toString();
  }

  /** Processes whose command line starts with `commandLine` (a shell quoting it does not count). */
  async function processes(commandLine: string): Promise<string[]> {
    const result = await controller.exec(sandbox.id, { command: ['ps', '-eo', 'pid,args'], user: 'root' });
    return result.stdout.split('\n').filter((line) =>
      line
        .trim()
        .replace(/^\d+\s+/, '')
        .startsWith(commandLine),
    );
  }

  it('runs the command detached and records its output and exit status', async function () {
    const paths = nextPaths();
    assert.equal(
      await launchSupervised(run, paths, task(['sh', '-c', 'echo out; echo err >&2; echo "$SANDBOX_TASK_RUN $GREETING"; exit 3'], { env: { GREETING: 'hi' } })),
      'started',
    );
    const state = await ended(paths);
    assert.equal(state.started, true);
    assert.ok(state.startedAt && Date.parse(state.startedAt) <= Date.parse(state.exit!.endedAt));
    assert.deepEqual({ ...state.exit, endedAt: undefined }, { exitCode: 3, timedOut: false, outOfMemory: false, endedAt: undefined });
    assert.equal(await output(paths, 'stdout'), `out\n${paths.marker} hi\n`);
    assert.equal(await output(paths, 'stderr'), 'err\n');
    assert.equal(state.stdoutBytes, Buffer.byteLength(`out\n${paths.marker} hi\n`));
    assert.equal(state.stderrBytes, 4);
    assert.equal(state.alive, false);
    // Only the sandbox's user may read what a task wrote.
    assert.deepEqual((await sh(`stat -c '%a %n' ${paths.dir} ${paths.dir}/*`)).trim().split('\n').sort(), [
      `600 ${paths.dir}/exit`,
      `600 ${paths.dir}/pid`,
      `600 ${paths.dir}/started`,
      `600 ${paths.dir}/stderr`,
      `600 ${paths.dir}/stdout`,
      `700 ${paths.dir}`,
    ]);
    await removeAttemptDir(run, paths);
    assert.equal((await inspectSupervised(run, paths)).started, false);
  });

  it('starts an attempt at most once, however many launches race for it', async function () {
    const paths = nextPaths();
    const counter = `/tmp/${uniqueName('runs')}`;
    const request = task(`echo run >> ${counter}`);
    const said = await Promise.all([1, 2, 3].map(() => launchSupervised(run, paths, request)));
    assert.deepEqual(said.sort(), ['already-started', 'already-started', 'started']);
    await ended(paths);
    assert.equal(await launchSupervised(run, paths, request), 'already-started');
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.equal(await sh(`cat ${counter}`), 'run\n');
  });

  it('keeps running when the process that launched it is killed', async function () {
    const paths = nextPaths();
    const flag = `/tmp/${uniqueName('finished')}`;
    const child = spawn(
      process.execPath,
      ['-e', LAUNCHER_SCRIPT, env.stateDir, sandbox.id, JSON.stringify(paths), JSON.stringify(task(`sleep 3; echo done > ${flag}; echo done`))],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let said = '';
    child.stdout.on('data', (chunk: Buffer) => (said += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (said += chunk.toString()));
    await waitFor(() => said.includes('\n') || child.exitCode !== null, 60_000, 'the launcher to launch');
    assert.equal(said, 'started\n');
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
    // A new controller, as after a restart of the host side; its first exec kills orphaned commands.
    controller.dispose();
    controller = new SandboxController({ store: env.store });
    const running = await inspectSupervised(run, paths);
    assert.equal(running.alive, true);
    assert.equal(running.exit, undefined);
    const state = await ended(paths);
    assert.equal(state.exit!.exitCode, 0);
    assert.equal(await output(paths, 'stdout'), 'done\n');
    assert.equal(await sh(`cat ${flag}`), 'done\n');
  });

  it('cancels the whole tree, a double-forked daemon that cleared its environment too', async function () {
    const paths = nextPaths();
    await launchSupervised(run, paths, task("env -i setsid sh -c 'sleep 1000 > /dev/null 2>&1 &'; sleep 1001"));
    await waitFor(async () => (await processes('sleep 1000')).length === 1 && (await processes('sleep 1001')).length === 1, 30_000, 'the tree to start');
    assert.equal((await inspectSupervised(run, paths)).alive, true);
    await cancelSupervised(run, paths);
    const state = await inspectSupervised(run, paths);
    assert.equal(state.exit?.signal, 'SIGKILL');
    assert.equal(state.exit.exitCode, null);
    assert.equal(state.exit.timedOut, false);
    assert.deepEqual(await processes('sleep 100'), []);
    await waitFor(async () => !(await inspectSupervised(run, paths)).alive, 10_000, 'the supervisor to end');
  });

  it('leaves nothing of the tree behind once the command itself ended', async function () {
    const paths = nextPaths();
    await launchSupervised(run, paths, task("env -i setsid sh -c 'sleep 1002 > /dev/null 2>&1 &'; echo parent done"));
    const state = await ended(paths);
    assert.equal(state.exit!.exitCode, 0);
    assert.deepEqual(await processes('sleep 1002'), []);
  });

  it('ends a command at its timeout: TERM, then KILL for one that ignores TERM', async function () {
    const polite = nextPaths();
    const stubborn = nextPaths();
    await launchSupervised(run, polite, task(['sleep', '30'], { timeoutMs: 1000 }));
    await launchSupervised(run, stubborn, task('trap "" TERM; sleep 31; echo not reached', { timeoutMs: 1000 }));
    const [first, second] = await Promise.all([ended(polite), ended(stubborn)]);
    assert.deepEqual([first.exit!.timedOut, first.exit!.signal, first.exit!.exitCode], [true, 'SIGTERM', null]);
    assert.deepEqual([second.exit!.timedOut, second.exit!.signal], [true, 'SIGKILL']);
    assert.ok(Date.parse(second.exit!.endedAt) - Date.parse(second.startedAt!) >= 2900);
    assert.equal(await output(stubborn, 'stdout'), '');
  });

  it('reads output in pieces from an offset, bytes kept whole', async function () {
    const paths = nextPaths();
    await launchSupervised(run, paths, task("printf 'abcdefghij\\377\\000\\001'; seq 1 100000"));
    await ended(paths);
    const head = await readSupervisedOutput(run, paths, 'stdout', 0, 4);
    assert.deepEqual([head.data.toString(), head.nextOffset], ['abcd', 4]);
    const binary = await readSupervisedOutput(run, paths, 'stdout', 10, 3);
    assert.deepEqual([...binary.data], [0xff, 0x00, 0x01]);
    const expected = Buffer.concat([
      Buffer.from('abcdefghij'),
      Buffer.from([0xff, 0, 1]),
      Buffer.from(Array.from({ length: 100000 }, (_, i) => `${i + 1}\n`).join('')),
    ]);
    const pieces: Buffer[] = [];
    let offset = 0;
    for (;;) {
      const piece = await readSupervisedOutput(run, paths, 'stdout', offset, 100_000);
      if (piece.data.length === 0) break;
      pieces.push(piece.data);
      offset = piece.nextOffset;
    }
    assert.equal(Buffer.compare(Buffer.concat(pieces), expected), 0);
    assert.equal((await inspectSupervised(run, paths)).stdoutBytes, expected.length);
    assert.equal((await readSupervisedOutput(run, paths, 'stderr', 0)).data.length, 0);
  });

  it('reports a missing working folder or program as a failure to start', async function () {
    const paths = nextPaths();
    await assert.rejects(launchSupervised(run, paths, task(['true'], { cwd: '/no/such/dir' })), (error: unknown) => {
      assert.ok(isSandboxError(error, 'command-failed-to-start'));
      assert.match(error.message, /\/no\/such\/dir does not exist/);
      return true;
    });
    // Nothing started, so the attempt can still be launched once the folder is right.
    assert.equal((await inspectSupervised(run, paths)).started, false);
    assert.equal(await launchSupervised(run, paths, task(['true'])), 'started');
    const missing = nextPaths();
    await assert.rejects(launchSupervised(run, missing, task(['no-such-program-anywhere'])), (error: unknown) => {
      assert.ok(isSandboxError(error, 'command-failed-to-start'));
      assert.match(error.message, /no-such-program-anywhere was not found/);
      return true;
    });
    assert.equal((await inspectSupervised(run, missing)).exit?.exitCode, 127);
  });

  for (const channel of ['docker', 'agent', 'ssh'] as const) {
    it(`launches over the ${channel} channel a supervisor free of the launching command's kill marker`, async function () {
      const { channels, dispose } = controllersPerChannel(env.store);
      try {
        const over: SandboxRun = (request) => channels[channel].inspectExec(sandbox.id, request);
        const paths = nextPaths();
        assert.equal(await launchSupervised(over, paths, task('sleep 2; echo "$SANDBOX_TASK_RUN"')), 'started');
        const pid = JSON.parse(await sh(`cat ${paths.dir}/pid`)) as { pid: number };
        const environ = await controller.exec(sandbox.id, { command: ['cat', `/proc/${pid.pid}/environ`] });
        assert.equal(environ.exitCode, 0, environ.stderr);
        assert.ok(!environ.stdout.includes('SANDBOX_EXEC_ID='), environ.stdout);
        assert.ok(!environ.stdout.includes('SANDBOX_TASK_RUN='), environ.stdout);
        const state = await ended(paths);
        assert.equal(state.exit!.exitCode, 0);
        assert.equal(await output(paths, 'stdout'), `${paths.marker}\n`);
      } finally {
        dispose();
      }
    });
  }

  it('reads what it finds in an attempt folder as hostile: junk is no exit, a fake pid is not alive', async function () {
    const paths = nextPaths();
    await sh(
      `mkdir -p ${paths.dir} && printf '{"pid": 1, "start": 0, "startedAt": "x"}' > ${paths.dir}/started && head -c 10000 /dev/zero > ${paths.dir}/exit && mkfifo ${paths.dir}/stdout`,
    );
    const state = await inspectSupervised(run, paths);
    assert.deepEqual(state, { started: true, alive: false, stdoutBytes: 0, stderrBytes: 0 });
    assert.equal((await readSupervisedOutput(run, paths, 'stdout', 0)).data.length, 0);
    await sh(`printf '{"exitCode": "0; rm -rf /", "timedOut": false, "outOfMemory": false, "endedAt": "2024-01-01T00:00:00Z"}' > ${paths.dir}/exit`);
    assert.equal((await inspectSupervised(run, paths)).exit, undefined);
    await sh(`printf '{"exitCode": 4, "timedOut": false, "outOfMemory": true, "endedAt": "2024-01-01T00:00:00Z"}' > ${paths.dir}/exit`);
    assert.deepEqual((await inspectSupervised(run, paths)).exit, { exitCode: 4, timedOut: false, outOfMemory: true, endedAt: '2024-01-01T00:00:00Z' });
  });
});
