/**
 * Whether the engine enforces the limits every sandbox runs under (memory, CPU, processes): its
 * `info` says whether it can, and a short-lived probe container with small limits, when the
 * sandbox image is there, reads them back from its own cgroup files.
 */
import type Dockerode from 'dockerode';
import { describeError } from '../errors';
import { LABEL_PREFIX } from '../labels';
import { withTimeout } from '../providers/docker/engineErrors';
import { fail, pass, type CheckResult } from './types';

/** The part of the engine's `info` this check reads. */
export interface EngineLimits {
  MemoryLimit?: boolean;
  CpuCfsQuota?: boolean;
  PidsLimit?: boolean;
  CgroupVersion?: string;
  CgroupDriver?: string;
}

/** Marks the probe container, so one left by a killed doctor can be told apart. */
export const PROBE_LABEL = `${LABEL_PREFIX}.doctor-probe`;
const PROBE_MEMORY = 64 * 1024 * 1024;
/** Half a CPU: a CFS quota of 50 ms per 100 ms period. */
const PROBE_CPU_QUOTA = 50_000;
const PROBE_PIDS = 64;
const PROBE_TIMEOUT_MS = 20_000;
/** The cgroup files of the probe's own limits, v2 first, then v1 (where Docker mounts the container's subtree). */
const PROBE_SCRIPT = `cd /sys/fs/cgroup || exit 0
for f in memory.max cpu.max pids.max memory/memory.limit_in_bytes cpu/cpu.cfs_quota_us cpu,cpuacct/cpu.cfs_quota_us pids/pids.max; do
  [ -r "$f" ] && echo "$f $(cat "$f")"
done
exit 0`;

type Limit = 'memory' | 'CPU' | 'process';

/** The limits `info` says the engine cannot apply. */
export function limitsMissingFromInfo(info: EngineLimits): Limit[] {
  return [...(info.MemoryLimit ? [] : ['memory' as const]), ...(info.CpuCfsQuota ? [] : ['CPU' as const]), ...(info.PidsLimit ? [] : ['process' as const])];
}

/** The limits the probe's cgroup files do not show as set (`file value` lines). */
export function limitsMissingFromProbe(output: string): Limit[] {
  const values = new Map<string, string>();
  for (const line of output.split(/\r?\n/)) {
    const space = line.indexOf(' ');
    if (space > 0) values.set(line.slice(0, space), line.slice(space + 1).trim());
  }
  const memory = values.get('memory.max') ?? values.get('memory/memory.limit_in_bytes');
  const cpu = values.get('cpu.max')?.split(' ')[0] ?? values.get('cpu/cpu.cfs_quota_us') ?? values.get('cpu,cpuacct/cpu.cfs_quota_us');
  const pids = values.get('pids.max') ?? values.get('pids/pids.max');
  return [
    ...(memory === String(PROBE_MEMORY) ? [] : ['memory' as const]),
    ...(cpu === String(PROBE_CPU_QUOTA) ? [] : ['CPU' as const]),
    ...(pids === String(PROBE_PIDS) ? [] : ['process' as const]),
  ];
}

/** Runs the probe: a container of `image` with small limits, no network, removed at once; its output. */
async function probe(docker: Dockerode, image: string): Promise<string> {
  const container = await docker.createContainer({
    Image: image,
    Entrypoint: ['/bin/sh', '-c', PROBE_SCRIPT],
    Cmd: [],
    User: '0',
    Tty: true,
    Labels: { [PROBE_LABEL]: '1' },
    NetworkDisabled: true,
    HostConfig: {
      NetworkMode: 'none',
      Memory: PROBE_MEMORY,
      MemorySwap: PROBE_MEMORY,
      CpuPeriod: 100_000,
      CpuQuota: PROBE_CPU_QUOTA,
      PidsLimit: PROBE_PIDS,
      SecurityOpt: ['no-new-privileges'],
      ReadonlyRootfs: true,
    },
  });
  try {
    await container.start();
    await container.wait();
    // With a TTY the log is the plain text, without the engine's stream frames.
    return ((await container.logs({ stdout: true, stderr: true, follow: false })) as Buffer).toString('utf8');
  } finally {
    await container.remove({ force: true }).catch(() => undefined);
  }
}

export async function limitsCheck(docker: Dockerode, info: EngineLimits, sandboxImage: string | undefined): Promise<CheckResult> {
  const id = 'engine.limits';
  const title = 'Resource limits';
  const cgroups = `cgroup v${info.CgroupVersion ?? '?'}${info.CgroupDriver ? `, ${info.CgroupDriver}` : ''}`;
  const fix =
    info.CgroupVersion === '1'
      ? 'Boot with cgroup v2 (`systemd.unified_cgroup_hierarchy=1`) or enable the missing controllers (`cgroup_enable=memory swapaccount=1` on the kernel command line), then restart the engine.'
      : 'Enable the missing cgroup controllers for the engine (rootless Docker: delegate cpu, memory and pids to the user, see docs.docker.com/engine/security/rootless), then restart it.';
  const missing = limitsMissingFromInfo(info);
  if (missing.length) return fail(id, title, `The engine cannot enforce ${missing.join(', ')} limits (${cgroups}), so sandboxes would run without them.`, fix);
  if (!sandboxImage)
    return pass(
      id,
      title,
      `The engine says it enforces memory, CPU and process limits (${cgroups}); with the sandbox image built, the doctor also tries them.`,
    );
  let output: string;
  try {
    output = await withTimeout(probe(docker, sandboxImage), PROBE_TIMEOUT_MS);
  } catch (error) {
    return fail(
      id,
      title,
      `A container with limits could not run to check them: ${describeError(error)}`,
      'Check that `docker run --rm --memory 64m hello-world` works, then run the doctor again.',
    );
  }
  const unapplied = limitsMissingFromProbe(output);
  if (unapplied.length) {
    return fail(id, title, `A container given memory, CPU and process limits ran without its ${unapplied.join(', ')} limits (${cgroups}).`, fix);
  }
  return pass(id, title, `A container's memory, CPU and process limits are enforced (${cgroups}).`);
}
