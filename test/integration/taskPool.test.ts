import * as assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { promises as fs, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { SandboxController } from '../../src/core/controller';
import { StateStore } from '../../src/core/store/stateStore';
import { Scheduler, SCHEDULER_STATUS_FILE, type SchedulerStatus } from '../../src/core/tasks/scheduler';
import { TaskQueue } from '../../src/core/tasks/queue';
import { CLI, TestEnvironment, ensureImage, tempDir, waitFor } from './helpers';

function writeConfig(stateDir: string, size: number): void {
  writeFileSync(
    path.join(stateDir, 'tasks.json'),
    JSON.stringify({
      profiles: { small: { cpus: 1, memory: '512m' } },
      pools: { default: { size: 0 }, small: { size, max: 6, idleMinutes: 0.02 } },
      placements: { docker: { cpus: 8, memory: '16g' } },
    }),
  );
}

async function warmNames(stateDir: string): Promise<string[]> {
  const status = await fs.readFile(path.join(stateDir, SCHEDULER_STATUS_FILE), 'utf8').then(
    (text) => JSON.parse(text) as SchedulerStatus,
    () => undefined,
  );
  return status?.pools.find((pool) => pool.profile === 'small')?.warm ?? [];
}

describe('tasks: the warm pool destroys only what is idle', function () {
  this.timeout(300_000);
  const env = new TestEnvironment();
  const other = new SandboxController({ store: new StateStore(env.stateDir) });
  let scheduler: Scheduler;
  const log: string[] = [];
  let execByCli: ChildProcess | undefined;

  before(async function () {
    await ensureImage();
    writeConfig(env.stateDir, 4);
    scheduler = new Scheduler({ controller: env.controller, stateRoot: env.stateDir, log: (line) => log.push(line), tickMs: 150 });
    await scheduler.start();
  });
  after(async () => {
    execByCli?.kill('SIGKILL');
    await scheduler.stop();
    other.dispose();
    await env.dispose();
  });

  it('keeps sandboxes above the pool size that run a command, have a terminal or a forwarded port, held by other processes, and destroys the idle one', async function () {
    const warm = await waitFor(
      async () => ((await warmNames(env.stateDir)).length === 4 ? warmNames(env.stateDir) : undefined),
      180_000,
      'four warm sandboxes',
    );
    const [busyName, terminalName, forwardName, idleName] = warm as [string, string, string, string];
    // A long command run by a CLI process.
    execByCli = spawn(process.execPath, [CLI, 'exec', busyName, '--', 'sleep', '600'], {
      env: { ...process.env, AGENT_SANDBOXES_HOME: env.stateDir },
      stdio: 'ignore',
    });
    await waitFor(
      async () => (await other.inspectExec(busyName, { command: 'pgrep -x sleep || true' })).stdout.trim() || undefined,
      30_000,
      'the CLI command to run',
    );
    // A terminal and a forwarded port (with a connection through it), held by a second controller.
    const terminal = await other.openTerminal(terminalName);
    const forward = await other.forward(forwardName, 22);
    const socket = net.connect(forward.localPort, '127.0.0.1');
    await new Promise((resolve, reject) => socket.once('data', resolve).once('error', reject));

    writeConfig(env.stateDir, 0);
    await waitFor(
      async () => (await env.controller.list()).every((record) => record.name !== idleName) || undefined,
      120_000,
      'the idle sandbox to be destroyed',
    );
    // Several rounds of reaping later, the held ones are all still there.
    await new Promise((resolve) => setTimeout(resolve, 5000));
    const names = (await env.controller.list()).map((record) => record.name);
    for (const held of [busyName, terminalName, forwardName]) assert.ok(names.includes(held), `${held} was destroyed while held: ${log.join('\n')}`);
    assert.ok(
      log.some((line) => line.includes(busyName) && /command/.test(line)),
      'the running command was seen',
    );
    assert.ok(
      log.some((line) => line.includes(terminalName) && /terminal/.test(line)),
      'the terminal was seen',
    );
    assert.ok(
      log.some((line) => line.includes(forwardName) && /SSH connection/.test(line)),
      'the SSH connection of the forward was seen',
    );

    // Let go of them: each goes once idle.
    execByCli.kill('SIGTERM');
    terminal.write('exit\n');
    await terminal.exited;
    socket.destroy();
    forward.close();
    other.dispose();
    await waitFor(async () => (await env.controller.list()).length === 0 || undefined, 120_000, 'the released sandboxes to be destroyed');
  });
});

describe('tasks: bad input is refused in one sentence, with nothing queued', function () {
  this.timeout(60_000);
  const env = new TestEnvironment();
  after(() => env.dispose());

  const cases: [string, string[], RegExp][] = [
    ['an unknown priority', ['task', 'add', '--priority', 'urgent', '--', 'true'], /priority "urgent" is not one of critical, high, normal, low/],
    ['an unknown profile', ['task', 'add', '--profile', 'huge', '--', 'true'], /no profile "huge"/],
    ['an empty command', ['task', 'add', '--', ''], /empty command/],
    ['no command', ['task', 'add'], /empty command/],
    ['a workspace that does not exist', ['task', 'add', '--workspace', '/no/such/folder', '--', 'true'], /workspace \/no\/such\/folder is not a folder/],
    ['a reserved env name', ['task', 'add', '--env', 'SANDBOX_TASK_ID=x', '--', 'true'], /kept for the product/],
    ['an unknown task', ['task', 'cancel', 'nosuchtask'], /no task "nosuchtask"/],
  ];
  for (const [what, args, message] of cases) {
    it(`refuses ${what}`, async function () {
      const result = await env.cli(args);
      assert.notEqual(result.code, 0);
      assert.match(result.stderr, message);
      assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
      assert.equal(new TaskQueue(env.stateDir).load().tasks.size, 0);
    });
  }

  it('refuses an import with one malformed line and imports nothing', async function () {
    const file = path.join(tempDir(), 'tasks.jsonl');
    writeFileSync(file, '{"command": "echo one"}\n{"command": "echo two", "priority": "soon"}\n{"command": "echo three"}\n');
    const result = await env.cli(['task', 'import', file]);
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /Line 2 of .*priority "soon".*Nothing was imported/);
    assert.equal(new TaskQueue(env.stateDir).load().tasks.size, 0);
  });

  it('reports a malformed line dropped into the queue file and keeps going', async function () {
    writeFileSync(path.join(env.stateDir, 'task_queue.jsonl'), '{"command": "echo ok"}\nnot json\n{"command": ""}\n');
    const result = await env.cli(['task', 'list', '--json']);
    assert.equal(result.code, 0, result.stderr);
    const tasks = JSON.parse(result.stdout) as { command: string }[];
    assert.deepEqual(
      tasks.map((task) => task.command),
      ['echo ok'],
    );
    assert.match(result.stderr, /Line 2 of task_queue\.jsonl: not JSON/);
    assert.match(result.stderr, /Line 3 of task_queue\.jsonl: .*empty command/);
  });
});
