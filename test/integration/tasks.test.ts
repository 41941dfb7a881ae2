import * as assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { promises as fs, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { TaskClient } from '../../src/core/tasks/client';
import { daemonStatus } from '../../src/core/tasks/daemonLock';
import type { Task } from '../../src/core/tasks/model';
import { Scheduler, SCHEDULER_STATUS_FILE, type SchedulerStatus } from '../../src/core/tasks/scheduler';
import { CLI, TestEnvironment, docker, ensureImage, tempDir, waitFor } from './helpers';

/** Small sandboxes on a declared machine, so the load of a busy CI host does not decide what fits. */
function writeConfig(stateDir: string, extra: Record<string, unknown> = {}): void {
  const config = {
    limits: { global: 4 },
    profiles: { small: { cpus: 1, memory: '512m' }, huge: { cpus: 64, memory: '1g' } },
    pools: { default: { size: 0 }, small: { size: 2, max: 6 } },
    placements: { docker: { cpus: 8, memory: '16g' } },
    graceSeconds: 5,
    ...extra,
  };
  writeFileSync(path.join(stateDir, 'tasks.json'), JSON.stringify(config));
}

async function schedulerStatus(stateDir: string): Promise<SchedulerStatus | undefined> {
  return fs.readFile(path.join(stateDir, SCHEDULER_STATUS_FILE), 'utf8').then(
    (text) => JSON.parse(text) as SchedulerStatus,
    () => undefined,
  );
}

async function warmCount(stateDir: string, profile = 'small'): Promise<number> {
  return (await schedulerStatus(stateDir))?.pools.find((pool) => pool.profile === profile)?.warm.length ?? 0;
}

function allFinished(client: TaskClient, ids: string[]): Task[] | undefined {
  const tasks = ids.map((id) => client.resolve(id));
  return tasks.every((task) => ['succeeded', 'failed', 'cancelled'].includes(task.state)) ? tasks : undefined;
}

/** The most attempts that were placed at the same moment. */
function maxOverlap(tasks: Task[]): number {
  const edges = tasks.flatMap((task) =>
    task.attempts.flatMap((a) => [
      { t: Date.parse(a.assignedAt), d: 1 },
      { t: Date.parse(a.endedAt ?? new Date().toISOString()), d: -1 },
    ]),
  );
  edges.sort((a, b) => a.t - b.t || a.d - b.d);
  let now = 0;
  let most = 0;
  for (const edge of edges) most = Math.max(most, (now += edge.d));
  return most;
}

describe('tasks: queue, scheduler, warm pool', function () {
  this.timeout(300_000);
  before(() => ensureImage());

  describe('in one scheduler', function () {
    const env = new TestEnvironment();
    let scheduler: Scheduler;
    let client: TaskClient;
    const log: string[] = [];

    before(async function () {
      writeConfig(env.stateDir);
      client = new TaskClient(env.stateDir);
      scheduler = new Scheduler({ controller: env.controller, stateRoot: env.stateDir, log: (line) => log.push(line), tickMs: 150, pollMs: 150 });
      await scheduler.start();
      await waitFor(async () => (await warmCount(env.stateDir)) === 2, 120_000, 'two warm sandboxes in the pool');
    });
    after(async () => {
      await scheduler.stop();
      await env.dispose();
    });

    it('runs 20 tasks of mixed priority, critical ones first, never more than 4 at once, from a pool that is claimed and refilled', async function () {
      const priorities = [...Array(8).fill('normal'), ...Array(4).fill('low'), ...Array(8).fill('critical')] as string[];
      // One append: all are queued before the scheduler looks, so the order is the scheduler's.
      const added = client.queue.append(
        priorities.map((priority, i) => ({
          type: 'added' as const,
          task: {
            id: `mix${i}`,
            command: 'sleep 0.3; echo "$SANDBOX_TASK_ID $SANDBOX_TASK_KEY"',
            priority: priority as Task['priority'],
            profile: 'small',
            maxAttempts: 1,
          },
        })),
      );
      assert.equal(added.length, 20);
      const ids = priorities.map((_, i) => `mix${i}`);
      const tasks = await waitFor(() => allFinished(client, ids), 240_000, 'all 20 tasks to finish');
      for (const task of tasks) {
        assert.equal(task.state, 'succeeded', `${task.id}: ${task.reason}`);
        const { data } = await client.output(env.controller, task, 'stdout', 0);
        assert.equal(data.toString(), `${task.id} ${task.id}\n`);
      }
      assert.ok(maxOverlap(tasks) <= 4, `at most 4 placed at once, saw ${maxOverlap(tasks)}`);
      const firstPlaced = (task: Task) => Date.parse(task.attempts[0]!.assignedAt);
      const critical = tasks.filter((task) => task.priority === 'critical');
      const normal = tasks.filter((task) => task.priority === 'normal');
      for (const c of critical) for (const n of normal) assert.ok(firstPlaced(c) <= firstPlaced(n), `${c.id} (critical) was placed after ${n.id} (normal)`);
      const warmClaims = tasks.filter((task) => task.attempts[0]!.warm).length;
      assert.ok(warmClaims >= 2, `the two warm sandboxes were claimed (saw ${warmClaims} warm claims)`);
      // A sandbox made for a task that a warm one reached first joins the pool (reaped once idle),
      // so the pool may hold more than its size for a while, never more than its maximum.
      await waitFor(async () => (await warmCount(env.stateDir)) >= 2, 120_000, 'the pool refilled to two').catch(async (error: Error) => {
        const status = await schedulerStatus(env.stateDir);
        throw new Error(`${error.message}; pools: ${JSON.stringify(status?.pools)}; scheduler said: ${log.slice(-15).join(' | ')}`);
      });
      const pool = (await schedulerStatus(env.stateDir))?.pools.find((entry) => entry.profile === 'small');
      assert.ok(pool && pool.warm.length + pool.busy.length <= 6, `the pool stays within its maximum of 6: ${JSON.stringify(pool)}`);
      // Every task's sandbox is destroyed once it ended (off the task's slot): only the pool is left.
      const taskSandboxes = new Set(tasks.map((task) => task.attempts[0]!.sandboxId));
      await waitFor(
        async () => (await env.controller.list()).every((record) => !taskSandboxes.has(record.id)) || undefined,
        60_000,
        "the tasks' sandboxes to be destroyed",
      );
    });

    it('fails a task no machine could ever hold, saying why, instead of keeping it queued', async function () {
      const { task } = await client.add({ command: 'true', profile: 'huge' });
      const done = await waitFor(() => allFinished(client, [task.id])?.[0], 30_000, 'the task to be refused');
      assert.equal(done.state, 'failed');
      assert.equal(done.attempts.length, 0);
      assert.match(done.reason ?? '', /No machine can hold a sandbox of 64 CPUs .*docker 8 CPUs/);
    });

    it('pushes the workspace before the command and pulls the result folder when it succeeds', async function () {
      const workspace = tempDir();
      const result = tempDir();
      writeFileSync(path.join(workspace, 'input.txt'), 'forty-one\n');
      const { task } = await client.add({ command: 'sed s/forty-one/forty-two/ input.txt > output.txt', profile: 'small', workspace, resultDir: result });
      const done = await waitFor(() => allFinished(client, [task.id])?.[0], 120_000, 'the task to finish');
      assert.equal(done.state, 'succeeded', done.reason);
      assert.equal(await fs.readFile(path.join(result, 'output.txt'), 'utf8'), 'forty-two\n');
    });

    it('moves a task whose sandbox is killed under it to a new sandbox, and says why the first attempt ended', async function () {
      const { task } = await client.add({ command: 'sleep 4; echo moved', profile: 'small', attempts: 2 });
      const running = await waitFor(() => (client.resolve(task.id).state === 'running' ? client.resolve(task.id) : undefined), 60_000, 'the task to run');
      const sandbox = await env.controller.resolve(running.attempts[0]!.sandboxId!);
      await docker.getContainer(sandbox.providerRef!).kill();
      const done = await waitFor(() => allFinished(client, [task.id])?.[0], 120_000, 'the task to finish');
      assert.equal(done.state, 'succeeded', done.reason);
      assert.equal(done.attempts.length, 2);
      assert.equal(done.attempts[0]!.end, 'sandbox-lost');
      assert.match(done.attempts[0]!.reason ?? '', /sandbox/);
      assert.notEqual(done.attempts[1]!.sandboxId, done.attempts[0]!.sandboxId);
      assert.equal((await client.output(env.controller, done, 'stdout', 0)).data.toString(), 'moved\n');
    });

    it('fails a task whose attempts ran out, with the reason of each', async function () {
      const { task } = await client.add({ command: 'sleep 30', profile: 'small', attempts: 1 });
      const running = await waitFor(() => (client.resolve(task.id).state === 'running' ? client.resolve(task.id) : undefined), 60_000, 'the task to run');
      const sandbox = await env.controller.resolve(running.attempts[0]!.sandboxId!);
      await docker.getContainer(sandbox.providerRef!).kill();
      const done = await waitFor(() => allFinished(client, [task.id])?.[0], 60_000, 'the task to fail');
      assert.equal(done.state, 'failed');
      assert.equal(done.attempts.length, 1);
      assert.equal(done.attempts[0]!.end, 'sandbox-lost');
      assert.match(done.reason ?? '', /sandbox/);
    });

    it('cancels a running task: its whole process tree in the sandbox is killed', async function () {
      const { task } = await client.add({ command: 'setsid sh -c "sleep 1000" & sleep 1000', profile: 'small', attempts: 1, keep: true });
      const running = await waitFor(() => (client.resolve(task.id).state === 'running' ? client.resolve(task.id) : undefined), 60_000, 'the task to run');
      client.cancel(task.id);
      const done = await waitFor(() => allFinished(client, [task.id])?.[0], 60_000, 'the task to be cancelled');
      assert.equal(done.state, 'cancelled');
      assert.equal(done.attempts[0]!.end, 'cancelled');
      const left = await env.controller.exec(running.attempts[0]!.sandboxId!, { command: 'ps -eo args | grep -c "^sleep 1000" || true' });
      assert.equal(left.stdout.trim(), '0');
      await env.controller.delete(running.attempts[0]!.sandboxId!);
    });
  });

  describe('across a daemon killed with SIGKILL', function () {
    const env = new TestEnvironment();
    const children: ChildProcess[] = [];
    const startDaemon = (): ChildProcess => {
      const child = spawn(process.execPath, [CLI, 'daemon', 'run'], { env: { ...process.env, AGENT_SANDBOXES_HOME: env.stateDir }, stdio: 'ignore' });
      children.push(child);
      return child;
    };
    after(async () => {
      for (const child of children) if (child.exitCode === null) child.kill('SIGTERM');
      await waitFor(() => !daemonStatus(env.stateDir).running, 30_000, 'the daemon to stop');
      await env.dispose();
    });

    it('loses nothing and runs nothing twice: the next daemon re-attaches to running tasks and collects them', async function () {
      writeConfig(env.stateDir, { pools: { default: { size: 0 }, small: { size: 0, max: 6 } } });
      const client = new TaskClient(env.stateDir);
      const first = startDaemon();
      await waitFor(() => daemonStatus(env.stateDir).running, 30_000, 'the first daemon');
      const ids: string[] = [];
      for (let i = 0; i < 3; i++) ids.push((await client.add({ command: 'echo start; sleep 6; echo end', profile: 'small', attempts: 1 })).task.id);
      await waitFor(() => ids.every((id) => client.resolve(id).state === 'running') || undefined, 90_000, 'three running tasks');
      first.kill('SIGKILL');
      await waitFor(() => first.exitCode !== null || first.signalCode !== null || undefined, 10_000, 'the first daemon to die');
      assert.ok(!daemonStatus(env.stateDir).running, 'the dead daemon no longer holds the state dir');
      // One more task while no daemon runs: queued, placed by the next one.
      ids.push((await client.add({ command: 'echo start; echo end', profile: 'small', attempts: 1 })).task.id);
      startDaemon();
      const tasks = await waitFor(() => allFinished(client, ids), 120_000, 'all tasks to finish under the second daemon');
      for (const task of tasks) {
        assert.equal(task.state, 'succeeded', `${task.id}: ${task.reason}`);
        assert.equal(task.attempts.length, 1, `${task.id} was placed once`);
        assert.equal((await client.output(env.controller, task, 'stdout', 0)).data.toString(), 'start\nend\n', `${task.id} ran once`);
      }
    });
  });
});
