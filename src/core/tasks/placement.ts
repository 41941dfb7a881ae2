import { promises as fs } from 'node:fs';
import type { SandboxController } from '../controller';
import { describeError } from '../errors';
import type { ProviderKind, SandboxRecord, SandboxState } from '../model';
import { parseRef } from '../providers/sshHost/refs';

/**
 * Where a task's sandbox may go: the machines the user has (the local engine and each registered
 * SSH host), what each can hold and already holds, and the choice among them. Measuring never
 * throws: a machine that cannot be read is a view with `reachable: false` and the reason.
 */

/** A machine the user has: the local engine, or a registered SSH host. */
export interface PlacementTarget {
  /** 'docker' or `ssh:${hostName}`. */
  key: string;
  provider: ProviderKind;
  host?: string;
}

export interface Resources {
  cpus: number;
  /** Bytes. */
  memory: number;
}

export interface PlacementView {
  target: PlacementTarget;
  /** Declared by the user (wins) or measured; `declared` is true when any part of it was declared. */
  capacity: Resources & { declared: boolean };
  /** Measured use of the whole machine (engine stats / load average and meminfo), when it could be read. */
  load?: Resources;
  /** Sum of the profiles of this state dir's live sandboxes placed there (running or being created). */
  reserved: Resources;
  reachable: boolean;
  /** Why it is not reachable, one sentence. */
  problem?: string;
}

/** How long one machine may take to be measured before it counts as unreachable. */
export const MEASURE_TIMEOUT_MS = 5000;

/** States whose sandboxes hold their profile's share of a machine. */
const LIVE_STATES: readonly SandboxState[] = ['running', 'creating'];

/** Below this, two CPU figures are the same (profiles may ask for fractions of a CPU). */
const CPU_EPSILON = 1e-9;

export function dockerTarget(): PlacementTarget {
  return { key: 'docker', provider: 'docker' };
}

export function sshTarget(host: string): PlacementTarget {
  return { key: `ssh:${host}`, provider: 'ssh', host };
}

/** Every machine: the docker engine when it answers, and each registered SSH host. */
export async function listPlacementTargets(controller: SandboxController): Promise<PlacementTarget[]> {
  const [engineAnswers, hosts] = await Promise.all([
    controller.docker.ping().then(
      () => true,
      () => false,
    ),
    controller.sshHosts.hosts.list(),
  ]);
  return [...(engineAnswers ? [dockerTarget()] : []), ...hosts.map((host) => sshTarget(host.name))];
}

/** Capacity and load of one machine; declared capacity (cpus and/or memory) wins over measured. */
export async function measurePlacement(
  controller: SandboxController,
  target: PlacementTarget,
  declared?: Partial<Resources>,
  options: { timeoutMs?: number } = {},
): Promise<Omit<PlacementView, 'reserved'>> {
  const timeoutMs = options.timeoutMs ?? MEASURE_TIMEOUT_MS;
  const capacityFrom = (measured?: Partial<Resources>) => ({
    cpus: declared?.cpus ?? measured?.cpus ?? 0,
    memory: declared?.memory ?? measured?.memory ?? 0,
    declared: declared?.cpus !== undefined || declared?.memory !== undefined,
  });
  try {
    const measured = await within(
      measure(controller, target),
      timeoutMs,
      `${describeTarget(target)} did not answer within ${timeoutMs / 1000} s; check that it is up.`,
    );
    const capacity = capacityFrom(measured.capacity);
    if (!(capacity.cpus > 0) || !(capacity.memory > 0)) {
      return {
        target,
        capacity,
        reachable: false,
        problem: `${describeTarget(target)} did not report its CPU count and memory (it needs Linux with /proc); declare its capacity to use it.`,
      };
    }
    return { target, capacity, ...(measured.load ? { load: measured.load } : {}), reachable: true };
  } catch (error) {
    return { target, capacity: capacityFrom(), reachable: false, problem: oneSentence(describeError(error)) };
  }
}

interface Measurement {
  capacity: Partial<Resources>;
  load?: Resources;
}

async function measure(controller: SandboxController, target: PlacementTarget): Promise<Measurement> {
  if (target.provider === 'docker') {
    const engine = controller.docker;
    await engine.ping();
    const capacity = await engine.capacity();
    // Only an engine on this machine shares its load average and memory with us.
    const local = Boolean((engine.docker.modem as { socketPath?: string }).socketPath);
    return { capacity, load: local ? await localLoad() : undefined };
  }
  if (target.provider === 'ssh' && target.host) {
    const host = await controller.sshHosts.hosts.find(target.host);
    if (!host) throw new Error(`No SSH host is called ${target.host} any more; see \`sandbox host list\`.`);
    const report = parseMachineReport(await controller.sshHosts.runOnHost(host, MEASURE_SCRIPT, 'measure the machine'));
    return { capacity: { cpus: report.cpus, memory: report.memory }, load: report.load };
  }
  throw new Error(`Sandboxes of the ${target.provider} provider cannot be placed by the scheduler; use the local engine or an SSH host.`);
}

/** The local machine's load average and memory in use, or undefined where /proc cannot be read. */
async function localLoad(): Promise<Resources | undefined> {
  try {
    const [loadavg, meminfo] = await Promise.all([fs.readFile('/proc/loadavg', 'utf8'), fs.readFile('/proc/meminfo', 'utf8')]);
    return parseMachineReport(`loadavg=${loadavg.split('\n')[0]}\n${meminfo}`).load;
  } catch {
    return undefined;
  }
}

/** One command on an SSH host: its CPU count, load average and memory, as `key=value` and meminfo lines. */
export const MEASURE_SCRIPT = [
  'printf "cpus=%s\\n" "$(nproc 2>/dev/null || getconf _NPROCESSORS_ONLN)"',
  'printf "loadavg=%s\\n" "$(head -n 1 /proc/loadavg)"',
  "grep -E '^(MemTotal|MemAvailable):' /proc/meminfo",
].join('\n');

/** Most a machine report is read from: the script prints well under this, anything beyond is not ours. */
const REPORT_LIMIT = 64 * 1024;

export interface MachineReport {
  cpus?: number;
  /** MemTotal, bytes. */
  memory?: number;
  /** One-minute load average as CPUs busy, and memory in use (MemTotal - MemAvailable), bytes. */
  load?: Resources;
}

/**
 * Reads a machine report (from MEASURE_SCRIPT's output or the local /proc files). The machine
 * may be anyone's: every figure must be a plain number in range, or it is left out.
 */
export function parseMachineReport(output: string): MachineReport {
  let cpus: number | undefined;
  let loadCpus: number | undefined;
  let totalKb: number | undefined;
  let availableKb: number | undefined;
  for (const line of output.slice(0, REPORT_LIMIT).split('\n')) {
    let match: RegExpMatchArray | null;
    if ((match = /^cpus=(\d{1,7})$/.exec(line.trim()))) {
      const count = Number(match[1]);
      if (count > 0) cpus = count;
    } else if ((match = /^loadavg=(\d{1,7}(?:\.\d{1,6})?)\s/.exec(line))) {
      loadCpus = Number(match[1]);
    } else if ((match = /^(MemTotal|MemAvailable):\s+(\d{1,15})\s+kB\s*$/.exec(line))) {
      if (match[1] === 'MemTotal') totalKb = Number(match[2]);
      else availableKb = Number(match[2]);
    }
  }
  const memory = totalKb !== undefined && totalKb > 0 ? totalKb * 1024 : undefined;
  const used = memory !== undefined && availableKb !== undefined && availableKb * 1024 <= memory ? memory - availableKb * 1024 : undefined;
  return {
    ...(cpus !== undefined ? { cpus } : {}),
    ...(memory !== undefined ? { memory } : {}),
    ...(loadCpus !== undefined && used !== undefined ? { load: { cpus: loadCpus, memory: used } } : {}),
  };
}

/** The key of the machine a sandbox lives on; an ssh sandbox whose host is not known yet (its create just began) is `ssh`. */
export function targetKeyOf(record: SandboxRecord): string {
  if (record.provider === 'docker') return dockerTarget().key;
  if (record.provider === 'ssh') {
    const host = record.placement?.host ?? hostOfRef(record.providerRef);
    return host ? sshTarget(host).key : 'ssh';
  }
  return record.provider;
}

function hostOfRef(ref: string | undefined): string | undefined {
  if (!ref) return undefined;
  try {
    return parseRef(ref).host;
  } catch {
    return undefined;
  }
}

/** What our records say is placed on each target key (pass controller.list() results, plus any extra reservations the scheduler holds for creates in flight). */
export function reservedByTarget(records: SandboxRecord[]): Map<string, Resources> {
  const reserved = new Map<string, Resources>();
  for (const record of records) {
    if (!LIVE_STATES.includes(record.state)) continue;
    const key = targetKeyOf(record);
    const sum = reserved.get(key) ?? { cpus: 0, memory: 0 };
    sum.cpus += finiteOrZero(record.profile?.cpus);
    sum.memory += finiteOrZero(record.profile?.memory);
    reserved.set(key, sum);
  }
  return reserved;
}

/**
 * Where a sandbox needing `demand` goes: among reachable placements where reserved + demand fits in capacity
 * (never beyond: CPUs and memory both), the one with the largest free fraction of CPUs after placing
 * (free/capacity), ties broken by the most free memory then by key; measured load counts too: the free CPUs are
 * capacity - max(reserved, load.cpus) only when capacity is measured (a declared capacity is the user's word: use reserved).
 * undefined when nothing fits.
 */
export function choosePlacement(views: PlacementView[], demand: Resources): PlacementView | undefined {
  let best: { view: PlacementView; cpuFraction: number; freeMemory: number } | undefined;
  for (const view of views) {
    const { capacity, reserved } = view;
    if (!view.reachable || !(capacity.cpus > 0) || !(capacity.memory > 0)) continue;
    if (reserved.cpus + demand.cpus > capacity.cpus + CPU_EPSILON || reserved.memory + demand.memory > capacity.memory) continue;
    // The machine's own measure also sees work that is not ours; our reservations cover what is.
    const load = capacity.declared ? undefined : view.load;
    const usedCpus = Math.max(reserved.cpus, load?.cpus ?? 0);
    const usedMemory = Math.max(reserved.memory, load?.memory ?? 0);
    const candidate = { view, cpuFraction: (capacity.cpus - usedCpus - demand.cpus) / capacity.cpus, freeMemory: capacity.memory - usedMemory - demand.memory };
    if (!best || better(candidate, best)) best = candidate;
  }
  return best?.view;
}

function better(a: { view: PlacementView; cpuFraction: number; freeMemory: number }, b: typeof a): boolean {
  if (Math.abs(a.cpuFraction - b.cpuFraction) > CPU_EPSILON) return a.cpuFraction > b.cpuFraction;
  if (a.freeMemory !== b.freeMemory) return a.freeMemory > b.freeMemory;
  return a.view.target.key < b.view.target.key;
}

function describeTarget(target: PlacementTarget): string {
  return target.provider === 'docker' ? 'The local Docker engine' : target.host ? `Host ${target.host}` : `The ${target.provider} provider`;
}

/** The promise's outcome, or an error with `message` once `ms` passed (the work itself goes on and is ignored). */
function within<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  return Promise.race([promise, expired]).finally(() => clearTimeout(timer));
}

/** A problem is shown on one line: the first line of the message, without control characters. */
function oneSentence(message: string): string {
  return (message.split('\n').find((line) => line.trim() !== '') ?? 'The machine could not be measured.').replace(/[\u0000-\u001f\u007f]/g, '?').slice(0, 500);
}

function finiteOrZero(value: number | undefined): number {
  return typeof value === 'number' && Number.isFinite(value) && value > 0 ? value : 0;
}
