import Dockerode from 'dockerode';
import { SandboxError, describeError } from '../../errors';
import type { ExecRequest, ExecResult } from '../../model';
import { dockerExec, killProcessTree } from '../../transport/dockerExec';
import { openTtySession, type TtySession, type TtySessionOptions } from '../../transport/dockerTty';
import { ExecAgentChannels } from '../../transport/execAgent';
import { watchContainerEvents } from '../dockerEvents';
import { DockerNetworkPolicy, containerNetworkSettings } from '../../network/dockerPolicy';
import { startFailure } from '../startFailure';
import { LABELS } from '../../labels';
import type { CreateSpec, LogLine, LogOptions, Provider, ProviderSandbox, SnapshotInfo, SnapshotRequest } from '../provider';
import { containerCreateOptions, sshKeysArchive } from './containerSpec';
import { clearOriginLogins, commitSnapshot, listSnapshotImages, removeSnapshotImage } from './snapshots';
import { fromDetails, fromSummary, type ContainerDetails, type ContainerSummary } from './containers';
import { engineMessage, statusCode, withTimeout } from './engineErrors';
import { containerLogStream, parseLogFrames } from './logFrames';

/** One bridge network for every sandbox, with inter-container traffic off: sandboxes reach out, never each other. */
export const SANDBOX_NETWORK = 'agent-sandboxes';
const SSH_PORT = '22/tcp';
const PING_TIMEOUT_MS = 3000;

export interface DockerProviderOptions {
  /** A dockerode client; by default one configured from DOCKER_HOST or the local socket. */
  docker?: Dockerode;
  /**
   * How commands run. 'agent' (the default): through one persistent exec agent per container,
   * a few milliseconds each; containers without python3 fall back to 'docker'. 'docker': one
   * engine exec per command, which is all a short-lived process (the CLI) needs.
   */
  execChannel?: 'agent' | 'docker';
  /** How long a ping may take before the engine counts as down; an engine across SSH needs longer. */
  pingTimeoutMs?: number;
  /**
   * Where the engine runs, for the network policy's list of its machine's addresses: 'local'
   * reads this machine's; 'remote' asks a container on the engine's host network. By default
   * local for a Unix socket, remote otherwise.
   */
  engineHost?: 'local' | 'remote';
}

export class DockerProvider implements Provider {
  readonly kind = 'docker' as const;
  readonly docker: Dockerode;
  private networkReady?: Promise<string[]>;
  private engineInfo?: Promise<{ cpus: number; memory: number }>;
  private readonly execAgents?: ExecAgentChannels;

  private readonly pingTimeoutMs: number;
  private readonly networkPolicy: DockerNetworkPolicy;

  constructor(options: DockerProviderOptions = {}) {
    this.docker = options.docker ?? new Dockerode();
    this.pingTimeoutMs = options.pingTimeoutMs ?? PING_TIMEOUT_MS;
    const local = (options.engineHost ?? ((this.docker.modem as { socketPath?: string }).socketPath ? 'local' : 'remote')) === 'local';
    this.networkPolicy = new DockerNetworkPolicy(this.docker, { hostFacts: local ? 'local' : 'probe' });
    if ((options.execChannel ?? 'agent') === 'agent') this.execAgents = new ExecAgentChannels(this.docker);
  }

  /** Where the engine is expected, for messages. */
  get endpoint(): string {
    const modem = this.docker.modem as { socketPath?: string; host?: string; port?: number };
    return modem.socketPath ?? `${modem.host}:${modem.port}`;
  }

  async ping(signal?: AbortSignal): Promise<void> {
    try {
      await withTimeout((this.docker.ping as (options: object) => Promise<unknown>).call(this.docker, { abortSignal: signal }), this.pingTimeoutMs);
    } catch (error) {
      throw this.unavailable(error);
    }
  }

  private unavailable(error: unknown): SandboxError {
    return new SandboxError(
      'engine-unavailable',
      `The Docker engine at ${this.endpoint} does not answer (${describeError(error)}); start it (for example \`sudo systemctl start docker\`) or set DOCKER_HOST.`,
      { cause: error },
    );
  }

  /** CPU count and memory of the engine's machine, for validating profiles. */
  capacity(): Promise<{ cpus: number; memory: number }> {
    this.engineInfo ??= this.docker.info().then(
      (info: { NCPU: number; MemTotal: number }) => ({ cpus: info.NCPU, memory: info.MemTotal }),
      (error: unknown) => {
        this.engineInfo = undefined;
        throw this.unavailable(error);
      },
    );
    return this.engineInfo;
  }

  async imageExists(image: string): Promise<boolean> {
    try {
      await this.docker.getImage(image).inspect();
      return true;
    } catch (error) {
      if (statusCode(error) === 404) return false;
      throw this.translate(error, 'inspect the image');
    }
  }

  /** The sandboxes' network, made when missing; its subnets. */
  private ensureNetwork(): Promise<string[]> {
    const subnets = async () => {
      const details = (await this.docker.getNetwork(SANDBOX_NETWORK).inspect()) as { IPAM?: { Config?: Array<{ Subnet?: string }> } };
      return (details.IPAM?.Config ?? []).flatMap((config) => (config.Subnet ? [config.Subnet] : []));
    };
    this.networkReady ??= (async () => {
      try {
        return await subnets();
      } catch (error) {
        if (statusCode(error) !== 404) throw error;
      }
      try {
        await this.docker.createNetwork({
          Name: SANDBOX_NETWORK,
          Driver: 'bridge',
          CheckDuplicate: true,
          Options: { 'com.docker.network.bridge.enable_icc': 'false' },
          Labels: { [`${LABELS.owner}`]: 'shared' },
        });
      } catch (error) {
        if (statusCode(error) !== 409) throw error; // another process made it first
      }
      return subnets();
    })().catch((error) => {
      this.networkReady = undefined;
      throw this.translate(error, 'create the sandbox network');
    });
    return this.networkReady;
  }

  async create(spec: CreateSpec): Promise<ProviderSandbox> {
    const { profile } = spec;
    const subnets = await this.ensureNetwork();
    const network = containerNetworkSettings(profile, SANDBOX_NETWORK, SSH_PORT);
    let container: Dockerode.Container;
    try {
      container = await this.docker.createContainer(containerCreateOptions(spec, network));
    } catch (error) {
      if (statusCode(error) === 409) {
        throw new SandboxError('conflict', `A sandbox named ${spec.name} already exists; pick another name or remove it with \`sandbox rm ${spec.name}\`.`);
      }
      if (/storage-opt/i.test(describeError(error))) {
        throw new SandboxError(
          'resource-limit',
          'This Docker engine cannot limit disk size (that needs overlay2 on xfs with project quotas); leave out --disk.',
        );
      }
      if (statusCode(error) === 404 && /image/i.test(describeError(error))) {
        throw new SandboxError('image-missing', `The image ${profile.image} is not on this Docker engine; build it with \`sandbox image build\`.`);
      }
      throw this.translate(error, 'create the container');
    }
    try {
      // Before sshd first runs: it must present the key we pinned, and accept only our client.
      await container.putArchive(await sshKeysArchive(spec), { path: '/', abortSignal: spec.signal } as object);
      await container.start({ abortSignal: spec.signal } as object);
      // The init is held until the network rules are in, so this runs before its sshd does.
      if (spec.fromSnapshot) await clearOriginLogins(this.docker, container.id, spec.user);
      // The init waits for this before anything else runs (see src/core/network).
      await this.networkPolicy.apply(container.id, profile, subnets, spec.signal);
    } catch (error) {
      // A machine that exited as it started (before its rules could join its network) says why, not the step that met it.
      const why = spec.signal?.aborted ? undefined : await startFailure(this, container.id, spec.name, profile.image).catch(() => undefined);
      await this.networkPolicy.removeSidecars(container.id).catch(() => undefined);
      await container.remove({ force: true, v: true }).catch(() => undefined);
      throw why ?? this.translate(error, 'start the container');
    }
    return this.mustInspect(container.id);
  }

  async start(ref: string, signal?: AbortSignal): Promise<ProviderSandbox> {
    const container = this.docker.getContainer(ref);
    try {
      await container.start({ abortSignal: signal } as object);
    } catch (error) {
      if (statusCode(error) !== 304) throw this.translate(error, 'start the container');
    }
    const started = await this.mustInspect(ref);
    // Also when it was already running: someone else may have started it, and nothing inside
    // it (its marker, its init) can say whether the rules are in, since root there can forge both.
    try {
      await this.networkPolicy.apply(started.providerRef, started.profile, await this.ensureNetwork(), signal);
    } catch (error) {
      await this.networkPolicy.removeSidecars(started.providerRef).catch(() => undefined);
      await container.kill().catch(() => undefined); // fail closed
      throw this.translate(error, 'start the container');
    }
    return this.mustInspect(ref);
  }

  async stop(ref: string, signal?: AbortSignal): Promise<ProviderSandbox> {
    try {
      await this.docker.getContainer(ref).stop({ t: 5, abortSignal: signal } as object);
    } catch (error) {
      if (statusCode(error) !== 304) throw this.translate(error, 'stop the container');
    }
    const stopped = await this.mustInspect(ref);
    await this.networkPolicy.removeSidecars(stopped.providerRef).catch(() => undefined);
    return stopped;
  }

  async remove(ref: string, signal?: AbortSignal): Promise<void> {
    try {
      const id = (
        await this.docker
          .getContainer(ref)
          .inspect()
          .catch(() => undefined)
      )?.Id;
      if (id) await this.networkPolicy.removeSidecars(id);
      await this.docker.getContainer(ref).remove({ force: true, v: true, abortSignal: signal } as object);
    } catch (error) {
      // 404: already gone; 409: a removal is already in progress
      if (statusCode(error) === 404) return;
      if (statusCode(error) === 409 && /already in progress/.test(describeError(error))) return;
      throw this.translate(error, 'remove the container');
    }
  }

  async list(ownerId: string): Promise<ProviderSandbox[]> {
    let containers: ContainerSummary[];
    try {
      containers = await this.docker.listContainers({ all: true, filters: { label: [`${LABELS.owner}=${ownerId}`] } });
    } catch (error) {
      throw this.translate(error, 'list containers');
    }
    return containers.flatMap((summary) => {
      const sandbox = fromSummary(summary);
      return sandbox ? [sandbox] : [];
    });
  }

  async inspect(ref: string): Promise<ProviderSandbox | undefined> {
    let details: ContainerDetails;
    try {
      details = await this.docker.getContainer(ref).inspect();
    } catch (error) {
      if (statusCode(error) === 404) return undefined;
      throw this.translate(error, 'inspect the container');
    }
    return fromDetails(details);
  }

  private async mustInspect(ref: string): Promise<ProviderSandbox> {
    const sandbox = await this.inspect(ref);
    if (!sandbox) throw new SandboxError('not-found', `The container ${ref.slice(0, 12)} is gone; it was removed outside Agent Sandboxes.`);
    return sandbox;
  }

  async exec(ref: string, request: ExecRequest): Promise<ExecResult> {
    const defaults = { user: 'root', cwd: '/', guard: true };
    // A streamed stdin (a tar of a push) is bulk: a direct exec is a raw pipe into the command,
    // where the agent would relay every byte. Everything else wants the agent's low latency.
    const bulk = request.stdin !== undefined && typeof request.stdin !== 'string' && !Buffer.isBuffer(request.stdin);
    try {
      const viaAgent = bulk ? undefined : await this.execAgents?.exec(ref, request, defaults);
      return viaAgent ?? (await dockerExec(this.docker, ref, request, defaults));
    } catch (error) {
      throw this.translate(error, 'run the command');
    }
  }

  openTerminal(ref: string, options: TtySessionOptions): Promise<TtySession> {
    return openTtySession(this.docker, ref, options);
  }

  watch(ref: string, onChange: () => void, signal: AbortSignal): void {
    watchContainerEvents(this.docker, { container: [ref] }, { onEvent: onChange, onConnected: onChange }, signal);
  }

  /** Kills what a command (by its marker value) still runs, as its user and as root. */
  async killExec(ref: string, execId: string, user: string): Promise<void> {
    try {
      await killProcessTree(this.docker, ref, execId, [...new Set([user, '0'])], () => false);
    } catch (error) {
      throw this.translate(error, 'stop a command');
    }
  }

  async readHostKey(ref: string): Promise<string | undefined> {
    const result = await dockerExec(this.docker, ref, { command: ['cat', '/etc/ssh/ssh_host_ed25519_key.pub'] }, { user: 'root', cwd: '/' });
    const line = result.stdout.trim();
    return result.exitCode === 0 && line.startsWith('ssh-ed25519 ') ? line : undefined;
  }

  async authorizeKey(ref: string, publicKey: string): Promise<void> {
    // Root only touches /run/sandbox (root's own, where sandbox-init reads the keys at every
    // start); the agent's own files are written as the agent, so no link it planted in its
    // home can turn a root write against the system.
    const asRoot = [
      'set -e',
      'key="$1"',
      '[ -d /run/sandbox ] && [ ! -L /run/sandbox ] || install -d -o root -g root -m 0755 /run/sandbox',
      'grep -qxF -- "$key" /run/sandbox/authorized_keys 2>/dev/null || printf "%s\\n" "$key" >> /run/sandbox/authorized_keys',
    ].join('\n');
    const asAgent = [
      'set -e',
      'key="$1"',
      'umask 077',
      'mkdir -p "$HOME/.ssh"',
      'grep -qxF -- "$key" "$HOME/.ssh/authorized_keys" 2>/dev/null || printf "%s\\n" "$key" >> "$HOME/.ssh/authorized_keys"',
    ].join('\n');
    for (const [user, script] of [
      ['root', asRoot],
      ['agent', asAgent],
    ] as const) {
      const result = await dockerExec(this.docker, ref, { command: ['/bin/sh', '-c', script, 'authorize', publicKey] }, { user, cwd: '/' });
      if (result.exitCode !== 0) {
        throw new SandboxError(
          'provider-error',
          `Could not authorize our SSH key in the sandbox (${result.stderr.trim() || `exit ${result.exitCode}`}); restart the sandbox and try again.`,
        );
      }
    }
  }

  snapshot(ref: string, request: SnapshotRequest): Promise<SnapshotInfo> {
    return commitSnapshot(this.docker, ref, request, (error, action) => this.translate(error, action));
  }

  listSnapshots(ownerId: string): Promise<SnapshotInfo[]> {
    return listSnapshotImages(this.docker, ownerId, (error, action) => this.translate(error, action));
  }

  removeSnapshot(providerRef: string): Promise<void> {
    return removeSnapshotImage(this.docker, providerRef, (error, action) => this.translate(error, action));
  }

  /** Whether this request goes through the container's exec agent (not bulk, and the container has one). */
  runsInAgent(ref: string, request: ExecRequest): boolean {
    const bulk = request.stdin !== undefined && typeof request.stdin !== 'string' && !Buffer.isBuffer(request.stdin);
    return !bulk && this.execAgents !== undefined && !this.execAgents.lacksAgent(ref);
  }

  /** True when this container has no exec agent (no python3), so SSH is the quicker way in. */
  lacksFastChannel(ref: string): boolean {
    return this.execAgents?.lacksAgent(ref) ?? false;
  }

  /** Closes the exec agents' connections; their agents end and stop what they still run. */
  dispose(): void {
    this.execAgents?.close();
  }

  async *logs(ref: string, options: LogOptions): AsyncIterable<LogLine> {
    const query = {
      stdout: true,
      stderr: true,
      timestamps: true,
      follow: Boolean(options.follow),
      tail: options.tail ?? 'all',
      ...(options.since !== undefined ? { since: options.since } : {}),
    };
    let source: NodeJS.ReadableStream;
    try {
      source = await containerLogStream(this.docker.getContainer(ref), query, options.signal);
    } catch (error) {
      throw this.translate(error, 'read the container log');
    }
    yield* parseLogFrames(source as AsyncIterable<Buffer>, options.signal);
  }

  /** Turns an engine error into one sentence a user can act on. */
  translate(error: unknown, action: string): Error {
    if (error instanceof SandboxError) return error;
    if ((error as Error)?.name === 'AbortError') return new SandboxError('cancelled', `Cancelled while trying to ${action}.`);
    const code = (error as NodeJS.ErrnoException)?.code;
    if (code === 'ECONNREFUSED' || code === 'ENOENT' || code === 'EACCES' || code === 'ETIMEDOUT') return this.unavailable(error);
    const status = statusCode(error);
    const detail = engineMessage(error);
    if (status === 404) return new SandboxError('not-found', `Could not ${action}: the container no longer exists (${detail}).`);
    if (status === 409) return new SandboxError('wrong-state', `Could not ${action}: ${detail}.`);
    return new SandboxError('provider-error', `The Docker engine could not ${action}: ${detail}.`, { cause: error });
  }
}
