import { SandboxError } from '../../errors';
import type { SshHost } from '../../hosts/registry';

/** Where a sandbox on a host lives: `host/container/<id>` on its engine, or `host/directory/<id>`. */
export type Ref = { host: string; kind: 'container'; containerId: string } | { host: string; kind: 'directory'; id: string };

/**
 * The owner label of our containers on a host's engine: distinct from the local engine's, so a
 * host that is also this machine's engine never shows its containers twice.
 */
export function containerOwner(ownerId: string, host: SshHost): string {
  return `${ownerId}@${host.name}`;
}

export function containerRef(host: string, containerId: string): string {
  return `${host}/container/${containerId}`;
}

export function directoryRef(host: string, id: string): string {
  return `${host}/directory/${id}`;
}

export function parseRef(ref: string): Ref {
  const [host, kind, id, ...rest] = ref.split('/');
  if (host && id && rest.length === 0) {
    if (kind === 'container') return { host, kind, containerId: id };
    if (kind === 'directory') return { host, kind, id };
  }
  throw new SandboxError('invalid-input', `"${ref}" is not a reference to a sandbox on an SSH host.`);
}
