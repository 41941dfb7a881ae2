import type Dockerode from 'dockerode';
import { SandboxError } from '../errors';
import { IMAGE_LABELS } from './recipe';

/** The first processes of our images: they place this sandbox's keys and start its sshd. */
const OUR_INITS = ['/usr/local/sbin/sandbox-init', '/usr/local/sbin/desktop-init'];

/**
 * Refuses, before anything is made, an image that cannot be a sandbox: one that is neither built
 * by us (nor FROM an image we built, which keeps our label) nor starts one of our inits. Such a
 * container would run its own command (a plain Debian's bash exits at once) and never start the
 * sshd a sandbox is reached by.
 */
export async function assertSandboxImage(docker: Dockerode, image: string, where = 'this Docker engine'): Promise<void> {
  let config: { Labels?: Record<string, string> | null; Entrypoint?: string[] | string | null; Cmd?: string[] | string | null } | undefined;
  try {
    config = (await docker.getImage(image).inspect()).Config;
  } catch {
    return; // not there, or unreadable: the caller's own checks say so
  }
  if (config?.Labels?.[IMAGE_LABELS.recipe]) return;
  const start = [config?.Entrypoint ?? [], config?.Cmd ?? []].flat();
  if (start.some((part) => OUR_INITS.some((init) => part.includes(init)))) return;
  throw new SandboxError(
    'invalid-input',
    `The image ${image} on ${where} is not a sandbox image: it has no sandbox init (which places the sandbox's keys and starts its sshd), so nothing was made; use an image built with \`sandbox image build\`, or one built FROM it.`,
  );
}
