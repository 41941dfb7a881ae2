/**
 * What the collector costs with 20 idle sandboxes sampled every 5 s: its own process's CPU (as a
 * share of one core) and memory, and what the engine (dockerd and containerd, read by pid from
 * /proc) spends answering, against the same 20 sandboxes with no collector, in interleaved
 * windows. The collector runs in a child process of its own (bench/collectorChild.ts).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, promises as fs, readdirSync, readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Dockerode from 'dockerode';
import { CollectorStore } from '../src/core/collector/store';
import { SandboxController } from '../src/core/controller';
import { LABELS } from '../src/core/labels';
import { StateStore } from '../src/core/store/stateStore';
import { createLimiter } from '../src/core/util/limiter';
import { median, report, scaled } from './util';

/** The figures of this file, as `npm run bench -- NAME` names them. */
export const COLLECTOR_FIGURES = ['collector-cost'] as const;
export type CollectorFigure = (typeof COLLECTOR_FIGURES)[number];

const SANDBOXES = 20;
const INTERVAL_MS = 5_000;
const WINDOW_MS = 25_000;
/** The child loads, lists and takes its first two readings before a window starts. */
const WARM_UP_MS = 12_000;
const CLOCK_TICKS = 100;
const TARGET_PERCENT = 2;

const mib = (bytes: number) => `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** CPU time a process used so far (user + system), in seconds. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

function rssBytes(pid: number): number {
  const match = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) * 1024 : 0;
}

/** The engine's processes on this machine: dockerd and containerd, by name. */
function enginePids(): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const name = readFileSync(`/proc/${entry}/comm`, 'utf8').trim();
      if (name === 'dockerd' || name === 'containerd') pids.push(Number(entry));
    } catch {
      // Ended meanwhile.
    }
  }
  if (pids.length === 0) throw new Error('No dockerd or containerd process is visible in /proc: run this benchmark on the machine of the engine.');
  return pids;
}

/** CPU used during one window, as a percentage of one core. */
async function measureWindow(pids: { engine: number[]; collector?: number }): Promise<{ engine: number; collector?: number }> {
  const engineAt = () => pids.engine.reduce((sum, pid) => sum + cpuSeconds(pid), 0);
  const started = { wall: Date.now(), engine: engineAt(), collector: pids.collector ? cpuSeconds(pids.collector) : 0 };
  await sleep(WINDOW_MS);
  const seconds = (Date.now() - started.wall) / 1000;
  const result: { engine: number; collector?: number } = { engine: ((engineAt() - started.engine) / seconds) * 100 };
  if (pids.collector) result.collector = ((cpuSeconds(pids.collector) - started.collector) / seconds) * 100;
  return result;
}

function startCollector(stateDir: string): Promise<ChildProcess> {
  const child = fork(path.join(__dirname, 'collectorChild.js'), [stateDir, String(INTERVAL_MS)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    child.once('message', () => resolve(child));
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`The collector process ended early (exit ${code}).`)));
  });
}

async function stopCollector(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

export async function collectorBenchmarks(wanted: (figure: CollectorFigure) => boolean): Promise<void> {
  if (!wanted('collector-cost')) return;
  const stateDir = mkdtempSync(path.join(os.tmpdir(), 'sandbox-bench-collector-'));
  const store = new StateStore(stateDir);
  const controller = new SandboxController({ store });
  const docker = new Dockerode();
  try {
    const limit = createLimiter(4);
    await Promise.all(Array.from({ length: SANDBOXES }, (_, i) => limit(() => controller.create({ name: `bench-idle-${i}` }))));
    const engine = enginePids();
    const rounds = scaled(3);
    const with_: { engine: number; collector: number; rss: number; samples: number }[] = [];
    const without: number[] = [];
    /** The child's memory once loaded, before its first round: what Node.js and the modules take. */
    const startRss: number[] = [];
    for (let round = 0; round < rounds; round++) {
      // ABAB, then BABA: a drift in the machine's load falls on both sides.
      for (const turn of round % 2 === 0 ? ['with', 'without'] : ['without', 'with']) {
        if (turn === 'without') {
          await sleep(2_000);
          without.push((await measureWindow({ engine })).engine);
          continue;
        }
        const child = await startCollector(stateDir);
        startRss.push(rssBytes(child.pid!));
        try {
          await sleep(WARM_UP_MS);
          const windowStart = Date.now();
          const measured = await measureWindow({ engine, collector: child.pid! });
          const rss = rssBytes(child.pid!);
          const reader = CollectorStore.openForReading(stateDir)!;
          const samples = reader.db.get<{ count: number }>('SELECT count(*) AS count FROM samples WHERE time >= ?', [windowStart])!.count;
          reader.close();
          with_.push({ engine: measured.engine, collector: measured.collector!, rss, samples: Number(samples) });
        } finally {
          await stopCollector(child);
        }
      }
    }
    const collectorCpu = median(with_.map((run) => run.collector));
    const engineWith = median(with_.map((run) => run.engine));
    const engineWithout = median(without);
    const added = collectorCpu + Math.max(0, engineWith - engineWithout);
    const expectedSamples = SANDBOXES * (WINDOW_MS / INTERVAL_MS);
    const percent = (value: number) => `${value.toFixed(2)}% of one core`;
    report(
      `Collector cost, ${SANDBOXES} idle sandboxes sampled every ${INTERVAL_MS / 1000} s, ${rounds} windows of ${WINDOW_MS / 1000} s each way, interleaved`,
      [
        ["the collector's own process (median)", percent(collectorCpu)],
        ['dockerd + containerd with the collector (median)', percent(engineWith)],
        ['dockerd + containerd without it (median)', percent(engineWithout)],
        ['the engine spends answering (difference)', percent(engineWith - engineWithout)],
        ['added in all', percent(added)],
        [
          "the collector's memory (RSS, largest)",
          `${mib(Math.max(...with_.map((run) => run.rss)))} (${mib(median(startRss))} once loaded, before its first round)`,
        ],
        ['samples stored per window', `${with_.map((run) => run.samples).join(', ')} (expected about ${expectedSamples})`],
      ],
      added < TARGET_PERCENT ? `under the ${TARGET_PERCENT}% target` : `over the ${TARGET_PERCENT}% target`,
    );
  } finally {
    controller.dispose();
    const ownerId = await store.ownerId();
    for (const container of await docker.listContainers({ all: true, filters: { label: [`${LABELS.owner}=${ownerId}`] } })) {
      await docker
        .getContainer(container.Id)
        .remove({ force: true, v: true })
        .catch(() => undefined);
    }
    await fs.rm(stateDir, { recursive: true, force: true });
  }
}
