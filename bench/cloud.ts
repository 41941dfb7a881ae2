/**
 * The DigitalOcean provider against the stand-in (test/doStandIn) behind Prism, each droplet a
 * container booted by the real cloud-init: API calls per create, list and delete; our overhead from
 * create to the first exec result beyond the droplet's own boot; and a start from a snapshot
 * (hibernated sandbox) against a start from the base image plus cloud-init, interleaved.
 */
import { mkdtempSync, promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { SandboxController } from '../src/core/controller';
import { DigitalOceanProvider } from '../src/core/providers/digitalocean/provider';
import { StateStore } from '../src/core/store/stateStore';
import { startCloud, type StandInCloud } from '../test/doStandIn/harness';
import { interleave, median, ms, ratioLine, report, scaled } from './util';

export const CLOUD_FIGURES = ['cloud-calls', 'cloud-overhead', 'cloud-snapshot'] as const;
export type CloudFigure = (typeof CLOUD_FIGURES)[number];

interface Rig {
  cloud: StandInCloud;
  controller: SandboxController;
  stateDir: string;
}

async function rig(): Promise<Rig> {
  const cloud = await startCloud({ bootDroplets: true, bootDelayMs: 0, actionDelayMs: 0 });
  const stateDir = mkdtempSync(path.join(os.tmpdir(), 'sandbox-bench-cloud-'));
  const env = { DIGITALOCEAN_TOKEN: cloud.token, AGENT_SANDBOXES_DIGITALOCEAN_URL: cloud.apiUrl };
  // Polling as in use (1 s doubling to 8 s) would measure the poll interval, not our work: 100 ms here, said in the report.
  const provider = new DigitalOceanProvider({ stateRoot: stateDir, env, timing: { pollMs: 100, maxPollMs: 100 } });
  return { cloud, stateDir, controller: new SandboxController({ store: new StateStore(stateDir), providers: { digitalocean: provider } }) };
}

/** API requests the stand-in answered while `work` ran, by method and path. */
async function callsOf(cloud: StandInCloud, work: () => Promise<unknown>): Promise<string[]> {
  const before = cloud.standIn.requests.length;
  await work();
  return cloud.standIn.requests.slice(before).map((line) => line.replace(/\?.*? /, ' ').replace(/ \d{3}$/, ''));
}

function summarize(calls: string[]): string {
  const counts = new Map<string, number>();
  for (const call of calls) counts.set(call.replace(/\/\d+/g, '/{id}'), (counts.get(call.replace(/\/\d+/g, '/{id}')) ?? 0) + 1);
  return `${calls.length} (${[...counts].map(([call, count]) => `${count}× ${call}`).join(', ')})`;
}

async function apiCalls({ cloud, controller }: Rig): Promise<void> {
  // The first create of a process also reads the catalog and the firewalls once; a second one is the steady figure.
  const first = await callsOf(cloud, () => controller.create({ provider: 'digitalocean', name: 'bench-calls-1' }));
  const second = await callsOf(cloud, () => controller.create({ provider: 'digitalocean', name: 'bench-calls-2' }));
  const list = await callsOf(cloud, () => controller.list());
  const remove = await callsOf(cloud, () => controller.delete('bench-calls-2'));
  await controller.delete('bench-calls-1');
  report('DigitalOcean API calls (stand-in, 100 ms polling)', [
    ['first create of a process', summarize(first)],
    ['a later create', summarize(second)],
    ['list', summarize(list)],
    ['delete', summarize(remove)],
  ]);
}

/** Create to the first exec result, minus the droplet's own boot as the stand-in saw it (create call to sshd answering). */
async function overhead({ cloud, controller }: Rig): Promise<void> {
  const runs = scaled(3);
  const totals: number[] = [];
  const boots: number[] = [];
  for (let run = 0; run < runs; run++) {
    const name = `bench-overhead-${run}`;
    let postedAt = 0;
    let activeAt = 0;
    const watcher = setInterval(() => {
      const droplet = cloud.standIn.state.droplets({}).find((candidate) => candidate.name === name);
      if (droplet && !postedAt) postedAt = performance.now();
      if (droplet?.status === 'active' && !activeAt) activeAt = performance.now();
    }, 5);
    const began = performance.now();
    await controller.create({ provider: 'digitalocean', name });
    await controller.exec(name, { command: ['true'] });
    totals.push(performance.now() - began);
    clearInterval(watcher);
    boots.push(activeAt - postedAt);
    await controller.delete(name);
  }
  const ours = median(totals.map((total, index) => total - boots[index]!));
  report(`Create to first exec on DigitalOcean (stand-in), ${runs} runs`, [
    ['create + first exec (median)', ms(median(totals))],
    ["the droplet's own boot: create call to sshd up (median)", ms(median(boots))],
    ['ours: the rest (median)', `${ms(ours)} (target < 1000 ms: ${ours < 1000 ? 'met' : 'NOT met'})`],
  ]);
}

/** A start from the hibernation snapshot against a create from the base image plus cloud-init, interleaved. */
async function snapshotStart({ controller }: Rig): Promise<void> {
  const runs = scaled(3);
  await controller.create({ provider: 'digitalocean', name: 'bench-hibernated' });
  await controller.hibernate('bench-hibernated');
  const samples = await interleave(
    runs,
    {
      snapshot: () => controller.start('bench-hibernated'),
      base: (round) => controller.create({ provider: 'digitalocean', name: `bench-base-${round}` }),
    },
    async (name, round) => (name === 'snapshot' ? controller.hibernate('bench-hibernated') : controller.delete(`bench-base-${round}`)),
  );
  await controller.delete('bench-hibernated');
  report(`DigitalOcean start from a snapshot vs a create from the base image + cloud-init (stand-in), ${runs} runs interleaved`, [
    ['from the snapshot (restore of a hibernated sandbox, median)', ms(median(samples.snapshot))],
    ['from the base image + cloud-init (median)', ms(median(samples.base))],
    ['ratio', ratioLine(median(samples.snapshot), median(samples.base))],
  ]);
}

export async function cloudBenchmarks(wanted: (figure: CloudFigure) => boolean): Promise<void> {
  if (!CLOUD_FIGURES.some(wanted)) return;
  const setup = await rig();
  try {
    if (wanted('cloud-calls')) await apiCalls(setup);
    if (wanted('cloud-overhead')) await overhead(setup);
    if (wanted('cloud-snapshot')) await snapshotStart(setup);
  } finally {
    setup.controller.dispose();
    await setup.cloud.close();
    await fs.rm(setup.stateDir, { recursive: true, force: true });
  }
}
