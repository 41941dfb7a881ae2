import { SandboxError } from '../../errors';
import type { HostRegistry, SshHost } from '../../hosts/registry';
import type { SnapshotInfo, SnapshotRequest } from '../provider';
import type { HostConnections } from './hostConnections';
import { containerOwner, parseRef } from './refs';

/**
 * Snapshots of sandboxes that are containers on a host's engine: kept on that engine, where the
 * sandboxes made from them go too. Their handle is `<host>/<image tag>`.
 */
export class HostSnapshots {
  constructor(
    private readonly hosts: HostRegistry,
    private readonly connections: HostConnections,
  ) {}

  async snapshot(ref: string, request: SnapshotRequest): Promise<SnapshotInfo> {
    const target = parseRef(ref);
    if (target.kind !== 'container') {
      throw new SandboxError('invalid-input', `A sandbox that is a folder on ${target.host} cannot be snapshotted; snapshots are made of containers.`);
    }
    const host = await this.hosts.get(target.host);
    const engine = this.connections.engine(host);
    const taken = await this.connections.onEngine(host, () => engine.snapshot(target.containerId, request));
    return this.onHost(host, taken);
  }

  /** Every snapshot on the engines of the hosts with Docker; a host that does not answer shows none. */
  async list(ownerId: string): Promise<SnapshotInfo[]> {
    const hosts = (await this.hosts.list()).filter((host) => host.docker);
    const found = await Promise.all(
      hosts.map(async (host) => {
        const engine = this.connections.engine(host);
        const listed = await this.connections.onEngine(host, () => engine.listSnapshots(containerOwner(ownerId, host))).catch(() => []);
        return listed.map((snapshot) => this.onHost(host, snapshot));
      }),
    );
    return found.flat();
  }

  async remove(providerRef: string): Promise<void> {
    const slash = providerRef.indexOf('/');
    const host = slash > 0 ? await this.hosts.find(providerRef.slice(0, slash)) : undefined;
    if (!host) return; // the host was removed from this state dir: nothing of ours is reachable there
    const engine = this.connections.engine(host);
    await this.connections.onEngine(host, () => engine.removeSnapshot(providerRef.slice(slash + 1)));
  }

  private onHost(host: SshHost, snapshot: SnapshotInfo): SnapshotInfo {
    return { ...snapshot, provider: 'ssh', providerRef: `${host.name}/${snapshot.providerRef}`, host: host.name };
  }
}
