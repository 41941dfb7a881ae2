import Dockerode from 'dockerode';
import { pack } from 'tar-stream';
import type { containerNetworkSettings } from '../../network/dockerPolicy';
import { LABELS } from '../../labels';
import type { CreateSpec } from '../provider';

type ContainerNetwork = ReturnType<typeof containerNetworkSettings>;

/** What the engine is asked to make for a sandbox: its labels (our record of it), limits and network. */
export function containerCreateOptions(spec: CreateSpec, network: ContainerNetwork): Dockerode.ContainerCreateOptions {
  const { profile } = spec;
  const labels: Record<string, string> = {
    [LABELS.owner]: spec.ownerId,
    [LABELS.id]: spec.id,
    [LABELS.name]: spec.name,
    [LABELS.agent]: spec.agentId,
    [LABELS.profile]: JSON.stringify(profile),
    [LABELS.user]: spec.user,
    [LABELS.workdir]: spec.workdir,
    [LABELS.created]: spec.createdAt,
    [LABELS.hostKey]: spec.ssh.hostPublicKey,
  };
  return {
    name: containerName(spec.ownerId, spec.name),
    Image: profile.image,
    Hostname: spec.name,
    Labels: labels,
    Env: [`SANDBOX_SUDO=${profile.sudo ? 1 : 0}`, ...(profile.desktop ? [`SANDBOX_DESKTOP_GEOMETRY=${profile.desktop}`] : [])],
    ExposedPorts: network.ExposedPorts,
    abortSignal: spec.signal,
    HostConfig: {
      NanoCpus: Math.round(profile.cpus * 1e9),
      Memory: profile.memory,
      MemorySwap: profile.memory,
      PidsLimit: profile.pids,
      Privileged: false,
      CapDrop: ['NET_RAW', 'MKNOD'],
      ...network.HostConfig,
      ...(profile.disk ? { StorageOpt: { size: String(profile.disk) } } : {}),
    },
  } as Dockerode.ContainerCreateOptions;
}

export function containerName(ownerId: string, name: string): string {
  return `sandbox-${name}-${ownerId.slice(0, 6)}`;
}

/** A tar for `putArchive` at `/`: the host key pair and the key allowed to log in. */
export async function sshKeysArchive(spec: CreateSpec): Promise<Buffer> {
  const tar = pack();
  const entries: Array<{ name: string; mode: number; content: string }> = [
    { name: 'etc/ssh/ssh_host_ed25519_key', mode: 0o600, content: spec.ssh.hostPrivateKey },
    { name: 'etc/ssh/ssh_host_ed25519_key.pub', mode: 0o644, content: `${spec.ssh.hostPublicKey}\n` },
    { name: 'run/sandbox/authorized_keys', mode: 0o644, content: `${spec.ssh.authorizedKey}\n` },
  ];
  tar.entry({ name: 'run/sandbox/', type: 'directory', mode: 0o755 });
  for (const entry of entries) tar.entry({ name: entry.name, mode: entry.mode, uid: 0, gid: 0 }, entry.content);
  tar.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of tar) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
