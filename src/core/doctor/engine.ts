/** Checks of the Docker engine: it answers, its version, and that it enforces the sandboxes' limits. */
import { describeError } from '../errors';
import { engineEndpoint } from '../images/engine';
import { withTimeout } from '../providers/docker/engineErrors';
import { imageChecks } from './images';
import { fail, pass, warn, type CheckGroup, type CheckResult } from './types';

const ENGINE_TIMEOUT_MS = 5000;
/** Older engines are not tested; they may still work. */
const TESTED_DOCKER_VERSION = '20.10';

/** The part of the engine's `info` the limits check reads. */
export interface EngineLimits {
  MemoryLimit?: boolean;
  CpuCfsQuota?: boolean;
  PidsLimit?: boolean;
  CgroupVersion?: string;
  CgroupDriver?: string;
}

interface EngineVersion {
  Version?: string;
  ApiVersion?: string;
  Components?: Array<{ Name?: string; Version?: string }>;
}

export const engineChecks: CheckGroup = async (context) => {
  const { docker } = context;
  const endpoint = await endpointOf(docker);
  let version: EngineVersion;
  let info: EngineLimits;
  try {
    [version, info] = await withTimeout(Promise.all([docker.version() as Promise<EngineVersion>, docker.info() as Promise<EngineLimits>]), ENGINE_TIMEOUT_MS);
  } catch (error) {
    const notChecked = (id: string, title: string) =>
      fail(id, title, 'Not checked: the Docker engine does not answer.', 'Fix the Docker engine line first, then run the doctor again.');
    return [
      engineDown(endpoint, error),
      notChecked('engine.limits', 'Resource limits'),
      notChecked('image.sandbox', 'Sandbox image'),
      notChecked('image.desktop', 'Desktop image'),
    ];
  }
  return [engineVersionCheck(endpoint, version), limitsCheck(info), ...(await imageChecks(docker, context.cli))];
};

/** The engine's socket as the client resolves it (docker-modem looks for the default one lazily), else its address. */
async function endpointOf(docker: Parameters<CheckGroup>[0]['docker']): Promise<string> {
  const modem = docker.modem as { getSocketPath?: () => Promise<string | undefined> };
  const socket = await modem.getSocketPath?.().catch(() => undefined);
  return socket || engineEndpoint(docker);
}

function engineDown(endpoint: string, error: unknown): CheckResult {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'EACCES') {
    return fail(
      'engine',
      'Docker engine',
      `This user may not use the Docker engine at ${endpoint} (${describeError(error)}).`,
      'Add this user to the docker group (`sudo usermod -aG docker $USER`, then log in again), or point DOCKER_HOST at an engine this user may use.',
    );
  }
  return fail(
    'engine',
    'Docker engine',
    `The Docker engine at ${endpoint} does not answer (${describeError(error)}).`,
    'Start it (`sudo systemctl start docker`, or open Docker Desktop), or point DOCKER_HOST at a running engine.',
  );
}

export function engineVersionCheck(endpoint: string, version: EngineVersion): CheckResult {
  const title = 'Docker engine';
  const podman = version.Components?.find((component) => /podman/i.test(component.Name ?? ''));
  const name = podman ? 'Podman' : 'Docker Engine';
  const detail = `${name} ${version.Version ?? '(version unknown)'} (API ${version.ApiVersion ?? '?'}) answers at ${endpoint}.`;
  if (!podman && version.Version && olderThan(version.Version, TESTED_DOCKER_VERSION)) {
    return warn(
      'engine',
      title,
      `${detail.slice(0, -1)}; engines older than ${TESTED_DOCKER_VERSION} are not tested.`,
      `Upgrade the engine to ${TESTED_DOCKER_VERSION} or newer.`,
    );
  }
  return pass('engine', title, detail);
}

function olderThan(version: string, minimum: string): boolean {
  const [major = 0, minor = 0] = version.split('.').map((part) => Number.parseInt(part, 10));
  const [needMajor = 0, needMinor = 0] = minimum.split('.').map((part) => Number.parseInt(part, 10));
  return major < needMajor || (major === needMajor && minor < needMinor);
}

/**
 * Every sandbox runs under a memory, CPU and process limit; an engine that cannot apply them
 * (cgroup controllers off, or rootless on cgroup v1) would start sandboxes without them.
 */
export function limitsCheck(info: EngineLimits): CheckResult {
  const title = 'Resource limits';
  const missing = [...(info.MemoryLimit ? [] : ['memory']), ...(info.CpuCfsQuota ? [] : ['CPU']), ...(info.PidsLimit ? [] : ['process'])];
  const cgroups = `cgroup v${info.CgroupVersion ?? '?'}${info.CgroupDriver ? `, ${info.CgroupDriver}` : ''}`;
  if (missing.length === 0) return pass('engine.limits', title, `The engine enforces memory, CPU and process limits (${cgroups}).`);
  return fail(
    'engine.limits',
    title,
    `The engine cannot enforce ${missing.join(', ')} limits (${cgroups}), so sandboxes would run without them.`,
    info.CgroupVersion === '1'
      ? 'Boot with cgroup v2 (`systemd.unified_cgroup_hierarchy=1`) or enable the missing controllers (`cgroup_enable=memory swapaccount=1` on the kernel command line), then restart the engine.'
      : 'Enable the missing cgroup controllers for the engine (rootless Docker: delegate cpu, memory and pids to the user, see docs.docker.com/engine/security/rootless), then restart it.',
  );
}
