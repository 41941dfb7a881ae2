import { SandboxError, describeError, isSandboxError } from '../../errors';
import { HostRegistry, hostEndpoint, type SshHost } from '../../hosts/registry';
import { ensureSandboxImage, sandboxImageTag } from '../../images';
import { assertSandboxImage } from '../../images/sandboxImage';
import type { ExecRequest, ExecResult } from '../../model';
import { validateProfile } from '../../profile';
import type { SshSession, SshSessionOptions } from '../../ssh/session';
import type { CreatePlan, CreateRequest, CreateSpec, LogLine, LogOptions, Provider, ProviderSandbox, SnapshotInfo, SnapshotRequest } from '../provider';
import { DirectorySandboxes } from './directories';
import { HostConnections } from './hostConnections';
import { HostSnapshots } from './hostSnapshots';
import { containerOwner, containerRef, parseRef } from './refs';

export interface SshHostProviderOptions {
  hosts: HostRegistry;
  ssh?: SshSessionOptions;
}

/**
 * Sandboxes on machines the user brought (`sandbox host add`). Where Docker answers for the
 * user there, a sandbox is a container on that engine, driven through dockerode over `ssh://`
 * and reached through the host (its sshd is published on the host's 127.0.0.1). Elsewhere it is
 * a directory with its own marked processes and the limits the host can give.
 */
export class SshHostProvider implements Provider {
  readonly kind = 'ssh' as const;
  readonly hosts: HostRegistry;
  private readonly connections: HostConnections;
  private readonly directories: DirectorySandboxes;
  private readonly snapshots: HostSnapshots;
  /** Hosts the last listing could not reach, with the reason. */
  private readonly unreachableHosts = new Map<string, string>();

  constructor(options: SshHostProviderOptions) {
    this.hosts = options.hosts;
    this.connections = new HostConnections(options.ssh);
    this.directories = new DirectorySandboxes(this.connections);
    this.snapshots = new HostSnapshots(this.hosts, this.connections);
  }

  /** Each host answers for itself when used; there is no engine to ask for all of them. */
  async ping(): Promise<void> {}

  /** The management connection to a host, with its pinned key only. */
  session(host: SshHost): SshSession {
    return this.connections.session(host);
  }

  /** Runs a short script on a host over its management connection: a look at the machine, never a sandbox's command. */
  runOnHost(host: SshHost, script: string, action: string): Promise<string> {
    return this.connections.run(host, script, [], action);
  }

  /** Closes what this process holds open to one host (after `host rm`). */
  forget(name: string): void {
    this.connections.forget(name);
  }

  dispose(): void {
    this.connections.dispose();
  }

  // ---- create ---------------------------------------------------------------------------------

  async prepareCreate(request: CreateRequest): Promise<CreatePlan> {
    if (!request.host) throw new SandboxError('invalid-input', 'Name the machine for an ssh sandbox: --host NAME (see `sandbox host list`).');
    const host = await this.hosts.get(request.host);
    if (!host.docker) return this.directories.prepareCreate(host, request);
    const { profile } = request;
    const engine = this.connections.engine(host);
    const onEngine = <T>(work: () => Promise<T>) => this.connections.onEngine(host, work);
    await onEngine(() => engine.ping(request.signal));
    const [capacity, imageExists] = await onEngine(() => Promise.all([engine.capacity(), engine.imageExists(profile.image)]));
    validateProfile(profile, capacity);
    if (imageExists) await onEngine(() => assertSandboxImage(engine.docker, profile.image, `the Docker engine of host ${host.name}`));
    if (!imageExists) {
      if (!request.buildImageIfMissing || profile.image !== sandboxImageTag()) {
        throw new SandboxError('image-missing', `The image ${profile.image} is not on the Docker engine of host ${host.name}; build or load it there first.`);
      }
      await ensureSandboxImage(engine.docker, {
        signal: request.signal,
        onProgress: (p) => request.onProgress?.({ message: `${host.name}: ${p.message ? `${p.step}: ${p.message}` : p.step}`, fraction: p.fraction }),
      });
    }
    return { profile, sandboxKeys: true };
  }

  async create(spec: CreateSpec): Promise<ProviderSandbox> {
    if (!spec.host) throw new SandboxError('invalid-input', 'Name the machine for an ssh sandbox: --host NAME (see `sandbox host list`).');
    const host = await this.hosts.get(spec.host);
    if (!host.docker) return this.directories.create(host, spec);
    const engine = this.connections.engine(host);
    const made = await this.connections.onEngine(host, () => engine.create({ ...spec, ownerId: containerOwner(spec.ownerId, host) }));
    return this.fromContainer(host, made);
  }

  // ---- lifecycle -----------------------------------------------------------------------------

  async start(ref: string, signal?: AbortSignal): Promise<ProviderSandbox> {
    const target = parseRef(ref);
    const host = await this.hosts.get(target.host);
    if (target.kind === 'directory') return this.directories.start(host, target.id);
    const engine = this.connections.engine(host);
    return this.fromContainer(host, await this.connections.onEngine(host, () => engine.start(target.containerId, signal)));
  }

  async stop(ref: string, signal?: AbortSignal): Promise<ProviderSandbox> {
    const target = parseRef(ref);
    const host = await this.hosts.get(target.host);
    if (target.kind === 'directory') return this.directories.stop(host, target.id);
    const engine = this.connections.engine(host);
    return this.fromContainer(host, await this.connections.onEngine(host, () => engine.stop(target.containerId, signal)));
  }

  async remove(ref: string, signal?: AbortSignal): Promise<void> {
    const target = parseRef(ref);
    const host = await this.hosts.find(target.host);
    if (!host) return; // the host was removed from this state dir: nothing of ours is reachable there
    if (target.kind === 'directory') return this.directories.remove(host, target.id);
    const engine = this.connections.engine(host);
    await this.connections.onEngine(host, () => engine.remove(target.containerId, signal));
  }

  // ---- listing -------------------------------------------------------------------------------

  async list(ownerId: string): Promise<ProviderSandbox[]> {
    const hosts = await this.hosts.list();
    const found = await Promise.all(
      hosts.map(async (host) => {
        try {
          const sandboxes = host.docker ? await this.listContainers(host, ownerId) : await this.directories.list(host, ownerId);
          this.unreachableHosts.delete(host.name);
          return sandboxes;
        } catch (error) {
          // One host down must not hide the others: its sandboxes show the reason instead.
          this.unreachableHosts.set(
            host.name,
            isSandboxError(error) && error.code !== 'provider-error'
              ? error.message
              : `Host ${host.name} could not be listed (${describeError(error)}); check that it is up, then run \`sandbox list\` again.`,
          );
          return [];
        }
      }),
    );
    return found.flat();
  }

  unreachable(ref: string): string | undefined {
    try {
      return this.unreachableHosts.get(parseRef(ref).host);
    } catch {
      return undefined;
    }
  }

  private async listContainers(host: SshHost, ownerId: string): Promise<ProviderSandbox[]> {
    const engine = this.connections.engine(host);
    const containers = await this.connections.onEngine(host, () => engine.list(containerOwner(ownerId, host)));
    return containers.map((sandbox) => this.fromContainer(host, sandbox));
  }

  async inspect(ref: string): Promise<ProviderSandbox | undefined> {
    const target = parseRef(ref);
    const host = await this.hosts.find(target.host);
    if (!host) return undefined;
    if (target.kind === 'directory') return this.directories.inspect(host, target.id);
    const engine = this.connections.engine(host);
    const sandbox = await this.connections.onEngine(host, () => engine.inspect(target.containerId));
    return sandbox && this.fromContainer(host, sandbox);
  }

  private fromContainer(host: SshHost, sandbox: ProviderSandbox): ProviderSandbox {
    return {
      ...sandbox,
      providerRef: containerRef(host.name, sandbox.providerRef),
      // Published on the host's 127.0.0.1, not here: reached only through the host.
      ports: {},
      ssh: sandbox.ssh && { ...sandbox.ssh, jump: { ...hostEndpoint(host), name: host.name } },
      placement: { host: host.name, kind: 'container' },
    };
  }

  // ---- snapshots (containers only) ---------------------------------------------------------

  snapshot(ref: string, request: SnapshotRequest): Promise<SnapshotInfo> {
    return this.snapshots.snapshot(ref, request);
  }

  listSnapshots(ownerId: string): Promise<SnapshotInfo[]> {
    return this.snapshots.list(ownerId);
  }

  removeSnapshot(providerRef: string): Promise<void> {
    return this.snapshots.remove(providerRef);
  }

  // ---- commands and logs ---------------------------------------------------------------------

  /** The controller runs commands over its own SSH session; this is the same path from the provider. */
  async exec(ref: string, request: ExecRequest): Promise<ExecResult> {
    const target = parseRef(ref);
    const host = await this.hosts.get(target.host);
    if (target.kind === 'directory') return this.directories.exec(host, target.id, request);
    const engine = this.connections.engine(host);
    return this.connections.onEngine(host, () => engine.exec(target.containerId, request));
  }

  async *logs(ref: string, options: LogOptions): AsyncIterable<LogLine> {
    const target = parseRef(ref);
    if (target.kind === 'container') {
      const host = await this.hosts.get(target.host);
      yield* this.connections.engine(host).logs(target.containerId, options);
      return;
    }
    // A directory sandbox has no output of its own, only its journal; following waits for the end.
    if (options.follow && options.signal && !options.signal.aborted) {
      await new Promise<void>((resolve) => options.signal!.addEventListener('abort', () => resolve(), { once: true }));
    }
  }

  async readHostKey(ref: string): Promise<string | undefined> {
    const target = parseRef(ref);
    if (target.kind !== 'container') return undefined;
    const host = await this.hosts.get(target.host);
    return this.connections.engine(host).readHostKey(target.containerId);
  }

  async authorizeKey(ref: string, publicKey: string): Promise<void> {
    const target = parseRef(ref);
    if (target.kind !== 'container') return;
    const host = await this.hosts.get(target.host);
    await this.connections.engine(host).authorizeKey(target.containerId, publicKey);
  }
}
