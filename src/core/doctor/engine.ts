/** Checks of the Docker engine: it answers, its version, and that it enforces the sandboxes' limits. */
import { describeError } from '../errors';
import { engineEndpoint } from '../images/engine';
import { sandboxImageTag as sandboxTag } from '../images/recipe';
import { withTimeout } from '../providers/docker/engineErrors';
import { imageChecks } from './images';
import { limitsCheck, type EngineLimits } from './limits';
import { fail, pass, warn, type CheckGroup, type CheckResult } from './types';

const ENGINE_TIMEOUT_MS = 5000;
/** Older engines are not tested; they may still work. */
const TESTED_DOCKER_VERSION = '20.10';

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
  const images = await imageChecks(docker, context.cli);
  // The probe of the limits runs on the sandbox image, when it is there: no pull, no build.
  const sandboxImage = images.find((check) => check.id === 'image.sandbox' && check.status === 'pass');
  return [engineVersionCheck(endpoint, version), await limitsCheck(docker, info, sandboxImage ? sandboxTag() : undefined), ...images];
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
