/**
 * Tasks: a warm claim against a cold start (in-process), tasks through the daemon's scheduler
 * against the same work as `sandbox` processes (processes), and the queue file at scale (a child
 * process). Each figure runs in a temp state dir of its own, whose sandboxes are removed at the end.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, promises as fs, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Dockerode from 'dockerode';
import { SandboxController } from '../src/core/controller';
import { LABELS } from '../src/core/labels';
import type { SandboxRecord } from '../src/core/model';
import { StateStore } from '../src/core/store/stateStore';
import { BackgroundWork } from '../src/core/tasks/background';
import { PlacementBoard } from '../src/core/tasks/board';
import { Claims } from '../src/core/tasks/claims';
import { findProfile, readTasksConfig } from '../src/core/tasks/config';
import { daemonStatus } from '../src/core/tasks/daemonLock';
import { normalizeSpec, type Task } from '../src/core/tasks/model';
import { WarmPool } from '../src/core/tasks/pool';
import { QUEUE_FILE, TaskQueue } from '../src/core/tasks/queue';
import { SCHEDULER_STATUS_FILE, type SchedulerStatus } from '../src/core/tasks/scheduler';
import type { QueueScaleResult } from './tasksQueue';
import { interleave, median, ms, p50p95, percentile, ratioLine, report, scaled, sh } from './util';

/** The figures of this file, as `npm run bench -- NAME` names them. */
export const TASK_FIGURES = ['warm-claim', 'task-throughput', 'queue-scale'] as const;
export type TaskFigure = (typeof TASK_FIGURES)[number];

const PROFILE = 'small';
/** One CPU and 512 MiB per task, on a machine declared large enough that a busy host's load does not hold placement back. */
function writeConfig(stateDir: string, pool: { size: number; max: number }): void {
  const config = {
    limits: { global: 4 },
    profiles: { [PROFILE]: { cpus: 1, memory: '512m' } },
    pools: { default: { size: 0 }, [PROFILE]: pool },
    placements: { docker: { cpus: 8, memory: '16g' } },
  };
  writeFileSync(path.join(stateDir, 'tasks.json'), JSON.stringify(config));
}

const sleep = (millis: number) => new Promise((resolve) => setTimeout(resolve, millis));
const docker = new Dockerode();

/** A temp state dir with its own controller; `dispose` removes every sandbox made in it, and the dir. */
export function benchState(): { stateDir: string; store: StateStore; controller: SandboxController; dispose: () => Promise<void> } {
  const stateDir = mkdtempSync(path.join(os.tmpdir(), 'sandbox-bench-tasks-'));
  const store = new StateStore(stateDir);
  const controller = new SandboxController({ store });
  const dispose = async () => {
    controller.dispose();
    const ownerId = await store.ownerId();
    for (const container of await docker.listContainers({ all: true, filters: { label: [`${LABELS.owner}=${ownerId}`] } })) {
      // One the daemon or the pool is removing already answers 404 or 409: it goes anyway.
      await docker
        .getContainer(container.Id)
        .remove({ force: true })
        .catch((error: { statusCode?: number }) => {
          if (error.statusCode !== 404 && error.statusCode !== 409) throw error;
        });
    }
    await fs.rm(stateDir, { recursive: true, force: true });
  };
  return { stateDir, store, controller, dispose };
}

/** From a warm pool's claim to the first exec's result, against a cold create to the same, in-process. */
async function warmClaim(): Promise<void> {
  const state = benchState();
  const { controller, stateDir } = state;
  const background = new BackgroundWork();
  try {
    writeConfig(stateDir, { size: 1, max: 2 });
    const config = await readTasksConfig(stateDir);
    const log = () => undefined;
    const claims = new Claims(stateDir);
    await claims.load();
    const board = new PlacementBoard(controller, log);
    await board.refresh(config, true);
    const pool = new WarmPool({ controller, claims, board, log, background });
    const profile = findProfile(config, PROFILE).profile;
    // Untimed: the pool refilled to one warm sandbox, as the scheduler's ticks keep it.
    let records: SandboxRecord[] = [];
    const untilWarm = async () => {
      for (const deadline = Date.now() + 120_000; Date.now() < deadline; await sleep(200)) {
        records = await controller.list();
        if (pool.warm(records, PROFILE).length > 0) return;
        pool.maintain(config, records);
      }
      throw new Error('The warm pool did not fill within 2 minutes; look at `docker ps` and the engine.');
    };
    await untilWarm();
    let claimed: SandboxRecord | undefined;
    let cold: SandboxRecord | undefined;
    const runs = scaled(10);
    const claimOnly: number[] = [];
    const samples = await interleave(
      runs,
      {
        warm: async () => {
          const started = performance.now();
          claimed = await pool.claim(records, PROFILE, () => true, new Set());
          claimOnly.push(performance.now() - started);
          if (!claimed) throw new Error('No warm sandbox to claim.');
          await controller.exec(claimed.id, { command: ['true'] });
        },
        cold: async () => {
          cold = await controller.create({ profile, buildImageIfMissing: true });
          await controller.exec(cold.id, { command: ['true'] });
        },
      },
      async (name) => {
        if (name === 'warm') {
          await controller.delete(claimed!.id);
          await untilWarm();
        } else await controller.delete(cold!.id);
      },
    );
    report(`Warm claim to the first exec result, profile ${PROFILE} (cpus 1), ${runs} runs interleaved, p50 / p95`, [
      ['in-process: WarmPool.claim + controller.exec', p50p95(samples.warm)],
      ['  of which WarmPool.claim (the claims file written)', p50p95(claimOnly)],
      ['in-process: controller.create + controller.exec (cold)', p50p95(samples.cold)],
      ['p50 ratio', ratioLine(median(samples.warm), median(samples.cold), 0.05)],
      ['p95 ratio', ratioLine(percentile(samples.warm, 95), percentile(samples.cold, 95))],
    ]);
  } finally {
    await background.settled();
    await state.dispose();
  }
}

/** Polls the queue until every id has finished; throws on one that did not succeed. Returns the tasks. */
async function untilAllSucceeded(stateDir: string, ids: string[], timeoutMs: number): Promise<Task[]> {
  const queue = new TaskQueue(stateDir);
  for (const deadline = Date.now() + timeoutMs; Date.now() < deadline; await sleep(100)) {
    const book = queue.load();
    const tasks = ids.map((id) => book.get(id)!);
    const bad = tasks.find((task) => task.state === 'failed' || task.state === 'cancelled');
    if (bad) throw new Error(`Task ${bad.id} ${bad.state}: ${bad.reason ?? ''}`);
    if (tasks.every((task) => task.state === 'succeeded')) return tasks;
  }
  throw new Error(`The tasks did not all succeed within ${timeoutMs / 1000} s; look at daemon.log in ${stateDir}.`);
}

async function untilPoolWarm(stateDir: string, size: number): Promise<void> {
  for (const deadline = Date.now() + 180_000; Date.now() < deadline; await sleep(250)) {
    const status = await fs.readFile(path.join(stateDir, SCHEDULER_STATUS_FILE), 'utf8').then(
      (text) => JSON.parse(text) as SchedulerStatus,
      () => undefined,
    );
    if ((status?.pools.find((pool) => pool.profile === PROFILE)?.warm.length ?? 0) >= size) return;
  }
  throw new Error(`The daemon's pool did not reach ${size} warm sandboxes within 3 minutes; look at daemon.log in ${stateDir}.`);
}

/** Milliseconds between two ISO times of a task. */
const between = (from: string | undefined, to: string | undefined): number => (from && to ? Date.parse(to) - Date.parse(from) : NaN);

/**
 * N trivial tasks through the daemon (a `sandbox daemon start` process, its pool of 4 warm, a
 * limit of 4), added by one `sandbox task import` process, against the same commands as
 * `sandbox start` + `sandbox exec` + `sandbox rm` processes four at a time.
 */
async function taskThroughput(cli: string): Promise<void> {
  const ours = benchState();
  const baseline = benchState();
  const count = scaled(100, 8);
  const rounds = scaled(2);
  const cliEnv = (stateDir: string) => ({ AGENT_SANDBOXES_HOME: stateDir });
  const stopDaemon = async () => {
    await sh(`node ${cli} daemon stop >/dev/null`, cliEnv(ours.stateDir)).catch(async (error) => {
      // Ours only: the daemon of this temp state dir, by its pid.
      const pid = daemonStatus(ours.stateDir).holder?.pid;
      if (pid) process.kill(pid, 'SIGKILL');
      throw error;
    });
  };
  const phases: { placed: number[]; started: number[]; ran: number[]; warm: number } = { placed: [], started: [], ran: [], warm: 0 };
  try {
    writeConfig(ours.stateDir, { size: 4, max: 8 });
    writeConfig(baseline.stateDir, { size: 0, max: 4 });
    const importFile = path.join(ours.stateDir, 'bench-tasks.jsonl');
    const spec = normalizeSpec({ command: 'echo x', profile: PROFILE, attempts: 1 });
    writeFileSync(importFile, Array.from({ length: count }, () => JSON.stringify(spec)).join('\n') + '\n');
    const samples = await interleave(
      rounds,
      {
        scheduler: async () => {
          const printed = await sh(`node ${cli} task import ${importFile} --json`, cliEnv(ours.stateDir));
          const ids = (JSON.parse(printed) as Task[]).map((task) => task.id);
          const tasks = await untilAllSucceeded(ours.stateDir, ids, 30 * 60_000);
          for (const task of tasks) {
            const attempt = task.attempts[0]!;
            phases.placed.push(between(task.createdAt, attempt.assignedAt));
            phases.started.push(between(attempt.assignedAt, attempt.startedAt));
            phases.ran.push(between(attempt.startedAt, attempt.endedAt));
            if (attempt.warm) phases.warm += 1;
          }
        },
        processes: (round) => {
          const one = (i: number) =>
            `n=tp-${round}-${i}; node ${cli} start --name $n --cpus 1 --memory 512m >/dev/null && node ${cli} exec $n -- echo x >/dev/null && node ${cli} rm $n >/dev/null`;
          const workers = Array.from({ length: 4 }, (_, worker) => {
            const mine = Array.from({ length: count }, (_, i) => i).filter((i) => i % 4 === worker);
            return `(set -e; ${mine.map(one).join('; ')}) &`;
          });
          return sh(`${workers.join('\n')}\nfor job in $(jobs -p); do wait $job || exit 1; done`, cliEnv(baseline.stateDir));
        },
      },
      async (name) => {
        if (name === 'scheduler') {
          // Untimed: the daemon stopped and its sandboxes gone, so the processes run on an idle engine.
          await stopDaemon();
          for (const record of await ours.controller.list()) await ours.controller.delete(record.id);
          await fs.rm(path.join(ours.stateDir, QUEUE_FILE), { force: true });
          await fs.rm(path.join(ours.stateDir, 'tasks-claimed.json'), { force: true });
        }
      },
      // Untimed, before the scheduler's turn: a daemon with its pool warm, as it runs between bursts of work.
      async (name) => {
        if (name !== 'scheduler') return;
        await sh(`node ${cli} daemon start >/dev/null`, cliEnv(ours.stateDir));
        await untilPoolWarm(ours.stateDir, 4);
      },
    );
    const rate = (elapsed: number) => count / (elapsed / 1000);
    const oursRate = rate(median(samples.scheduler));
    const baseRate = rate(median(samples.processes));
    report(`${count} tasks of \`echo x\`, profile ${PROFILE} (cpus 1), 4 at a time, processes against processes, ${rounds} rounds interleaved`, [
      [
        'daemon (`sandbox daemon start`), pool 4 warm (max 8), limit 4; one `sandbox task import`',
        `${ms(median(samples.scheduler))}, ${oursRate.toFixed(2)} tasks/s`,
      ],
      ['`sandbox start` + `sandbox exec` + `sandbox rm` processes, 4 at a time', `${ms(median(samples.processes))}, ${baseRate.toFixed(2)} tasks/s`],
      ['throughput ratio', `${(oursRate / baseRate).toFixed(2)}x the baseline (target >= 3x: ${oursRate / baseRate >= 3 ? 'met' : 'NOT met'})`],
      ['per task: added -> placed, p50 / p95', p50p95(phases.placed)],
      ['per task: placed -> started (launch), p50 / p95', p50p95(phases.started)],
      ['per task: started -> ended (watch + output kept), p50 / p95', p50p95(phases.ran)],
      ['warm claims', `${phases.warm} of ${phases.placed.length}`],
    ]);
  } finally {
    if (daemonStatus(ours.stateDir).running) await stopDaemon().catch(() => undefined);
    await ours.dispose();
    await baseline.dispose();
  }
}

/** Runs the queue-scale child and returns what it measured. */
function runQueueChild(dir10k: string, dir100k: string, rounds: number): Promise<QueueScaleResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--expose-gc', path.join(__dirname, 'tasksQueue.js'), dir10k, dir100k, String(rounds)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (chunk) => (out += chunk));
    child.on('close', (code) => (code === 0 ? resolve(JSON.parse(out) as QueueScaleResult) : reject(new Error(`The queue-scale child exited ${code}.`))));
  });
}

/** A queue of `count` added tasks, written as one append (the file an import of that many makes). */
function writeQueue(dir: string, count: number): void {
  const spec = normalizeSpec({ command: 'echo x', profile: PROFILE, attempts: 1 });
  const queue = new TaskQueue(dir);
  for (let start = 0; start < count; start += 10_000) {
    queue.append(Array.from({ length: Math.min(10_000, count - start) }, (_, i) => ({ type: 'added' as const, task: { ...spec, id: `q${start + i}` } })));
  }
}

/** Memory of a queue of 10,000 tasks in a child process, and the time to load 100,000 lines against parsing them. */
async function queueScale(): Promise<void> {
  const root = mkdtempSync(path.join(os.tmpdir(), 'sandbox-bench-queue-'));
  try {
    const dir10k = path.join(root, '10k');
    const dir100k = path.join(root, '100k');
    writeQueue(dir10k, 10_000);
    writeQueue(dir100k, 100_000);
    const rounds = scaled(6);
    const result = await runQueueChild(dir10k, dir100k, rounds);
    const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
    const rssGrowth = result.rssAfter - result.rssBefore;
    const heapGrowth = result.heapAfter - result.heapBefore;
    const size100k = (await fs.stat(path.join(dir100k, QUEUE_FILE))).size;
    report(`The queue at scale, in a child process, ${rounds} load rounds interleaved`, [
      [
        `memory: a TaskQueue of ${result.tasks10k} queued tasks, RSS before -> after`,
        `${mib(result.rssBefore)} -> ${mib(result.rssAfter)} (+${mib(rssGrowth)})`,
      ],
      ['memory: heap used before -> after', `${mib(result.heapBefore)} -> ${mib(result.heapAfter)} (+${mib(heapGrowth)})`],
      ['memory growth target', `< 100 MiB: ${Math.max(rssGrowth, heapGrowth) < 100 * 1024 * 1024 ? 'met' : 'NOT met'}`],
      ['per tick with 10,000 queued: load (nothing new) + placement order, p50 / p95', p50p95(result.tickMs)],
      [`load of ${result.lines100k} lines (${mib(size100k)}): new TaskQueue().load(), p50 / p95`, p50p95(result.fold)],
      ['read + split + JSON.parse of each line, p50 / p95', p50p95(result.parse)],
      ['load target', `< 1000 ms: ${median(result.fold) < 1000 ? 'met' : 'NOT met'}`],
      ['p50 ratio (what the fold costs over parsing)', ratioLine(median(result.fold), median(result.parse))],
    ]);
  } finally {
    await fs.rm(root, { recursive: true, force: true });
  }
}

export async function taskBenchmarks(wanted: (figure: TaskFigure) => boolean, cli: string): Promise<void> {
  if (wanted('queue-scale')) await queueScale();
  if (wanted('warm-claim')) await warmClaim();
  if (wanted('task-throughput')) await taskThroughput(cli);
}
