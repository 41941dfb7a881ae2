import * as http from 'node:http';
import type { Duplex } from 'node:stream';
import Dockerode from 'dockerode';
import { SandboxError, describeError, isSandboxError } from '../errors';
import { loadCredentials } from '../hosts/credentials';
import {
  CREATE_SCRIPT,
  LIST_SCRIPT,
  PROBE_SCRIPT,
  REMOVE_SCRIPT,
  SANDBOX_MARKER_ENV,
  SET_STATE_SCRIPT,
  SYSTEMD_REMOVE_SCRIPT,
  SYSTEMD_SETUP_SCRIPT,
  SYSTEMD_STOP_SCRIPT,
  directoryPaths,
  parseFacts,
  parseListing,
  prlimitPlan,
  runContext,
  sandboxesRoot,
  sliceName,
  sliceUnit,
  systemdPlan,
  type DirectoryMetadata,
  type HostFacts,
  type LimitPlan,
  type ListedDirectory,
} from '../hosts/directory';
import { HostRegistry, hostEndpoint, type SshHost } from '../hosts/registry';
import { ensureSandboxImage, sandboxImageTag } from '../images';
import { assertSandboxImage } from '../images/sandboxImage';
import type { ExecRequest, ExecResult } from '../model';
import { validateProfile } from '../profile';
import { SshSession, targetFor, type SshSessionOptions } from '../ssh/session';
import { killProcessesWithEnv, sshExec } from '../transport/sshExec';
import { DockerProvider } from './docker';
import type { CreatePlan, CreateRequest, CreateSpec, LogLine, LogOptions, Provider, ProviderSandbox } from './provider';

export interface SshHostProviderOptions {
  hosts: HostRegistry;
  ssh?: SshSessionOptions;
}

/** Listing many hosts must not wait long for one that is down. */
const HOST_SESSION_DEFAULTS: SshSessionOptions = { connectAttempts: 2, readyTimeoutMs: 8000 };
const SCRIPT_OUTPUT_BYTES = 4 * 1024 * 1024;

type Ref = { host: string; kind: 'container'; containerId: string } | { host: string; kind: 'directory'; id: string };

/**
 * Sandboxes on machines the user brought (`sandbox host add`). Where Docker answers for the
 * user there, a sandbox is a container on that engine, driven through dockerode over `ssh://`
 * and reached through the host (its sshd is published on the host's 127.0.0.1). Elsewhere it is
 * a directory with its own marked processes and the limits the host can give.
 */
export class SshHostProvider implements Provider {
  readonly kind = 'ssh' as const;
  readonly hosts: HostRegistry;
  private readonly sessionOptions: SshSessionOptions;
  private readonly sessions = new Map<string, SshSession>();
  private readonly engines = new Map<string, DockerProvider>();
  private readonly facts = new Map<string, Promise<HostFacts>>();
  /** Hosts the last listing could not reach, with the reason. */
  private readonly unreachableHosts = new Map<string, string>();

  constructor(options: SshHostProviderOptions) {
    this.hosts = options.hosts;
    this.sessionOptions = { ...HOST_SESSION_DEFAULTS, ...options.ssh };
  }

  /** Each host answers for itself when used; there is no engine to ask for all of them. */
  async ping(): Promise<void> {}

  // ---- connections ----------------------------------------------------------------------------

  /** The management connection to a host, with its pinned key only. */
  session(host: SshHost): SshSession {
    let session = this.sessions.get(host.name);
    if (!session) {
      session = new SshSession(async () => targetFor(`host ${host.name}`, host, await loadCredentials(host)), this.sessionOptions);
      this.sessions.set(host.name, session);
    }
    return session;
  }

  private engine(host: SshHost): DockerProvider {
    let engine = this.engines.get(host.name);
    if (!engine) {
      // Each engine request may open a channel, which starts the host user's login shell: patience.
      engine = new DockerProvider({ docker: dockerOverSsh(host, this.session(host)), execChannel: 'docker', pingTimeoutMs: 20_000, engineHost: 'remote' });
      this.engines.set(host.name, engine);
    }
    return engine;
  }

  /** Runs a management script on the host; a failure is one sentence naming the host. */
  private async run(host: SshHost, script: string, args: string[], action: string, stdin?: string): Promise<string> {
    const result = await sshExec(
      this.session(host),
      { command: ['/bin/sh', '-c', script, 'agent-sandboxes', ...args], stdin, maxOutputBytes: SCRIPT_OUTPUT_BYTES },
      { loginUser: host.user, cwd: '/' },
    );
    if (result.exitCode !== 0) {
      const detail = result.stderr.split('\n').find((line) => line.trim() !== '')?.replace(/[\u0000-\u001f\u007f]/g, '?').slice(0, 300);
      throw new SandboxError('provider-error', `Could not ${action} on host ${host.name} (exit code ${result.exitCode}${detail ? `: ${detail}` : ''}); check the host, then try again.`);
    }
    return result.stdout;
  }

  private hostFacts(host: SshHost): Promise<HostFacts> {
    let facts = this.facts.get(host.name);
    if (!facts) {
      facts = this.run(host, PROBE_SCRIPT, [], 'look at the machine').then(parseFacts);
      facts.catch(() => this.facts.delete(host.name));
      this.facts.set(host.name, facts);
    }
    return facts;
  }

  /** Closes what this process holds open to one host (after `host rm`). */
  forget(name: string): void {
    this.sessions.get(name)?.close();
    this.sessions.delete(name);
    this.engines.get(name)?.dispose();
    this.engines.delete(name);
    this.facts.delete(name);
  }

  dispose(): void {
    for (const name of [...this.sessions.keys(), ...this.engines.keys()]) this.forget(name);
  }

  // ---- create ---------------------------------------------------------------------------------

  async prepareCreate(request: CreateRequest): Promise<CreatePlan> {
    if (!request.host) throw new SandboxError('invalid-input', 'Name the machine for an ssh sandbox: --host NAME (see `sandbox host list`).');
    const host = await this.hosts.get(request.host);
    const { profile, requested } = request;
    if (host.docker) {
      const engine = this.engine(host);
      await this.onEngine(host, () => engine.ping(request.signal));
      const [capacity, imageExists] = await this.onEngine(host, () => Promise.all([engine.capacity(), engine.imageExists(profile.image)]));
      validateProfile(profile, capacity);
      if (imageExists) await this.onEngine(host, () => assertSandboxImage(engine.docker, profile.image, `the Docker engine of host ${host.name}`));
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
    if (requested.image !== undefined) {
      throw new SandboxError('invalid-input', `Host ${host.name} has no Docker engine for ${host.user}, so its sandboxes are directories and take no image; leave out --image.`);
    }
    if (requested.desktop !== undefined) {
      throw new SandboxError('invalid-input', `A directory sandbox on host ${host.name} has no desktop (that needs a container); leave out --desktop.`);
    }
    if (requested.disk !== undefined) {
      throw new SandboxError('invalid-input', `A directory sandbox on host ${host.name} cannot have a disk limit; leave out --disk.`);
    }
    if ((requested.network !== undefined && requested.network !== 'open') || requested.hosts?.length) {
      throw new SandboxError('invalid-input', `A directory sandbox on host ${host.name} uses the host's network as ${host.user} and cannot be fenced; leave out --network, --allow-domain and --add-host, or give the host Docker.`);
    }
    const facts = await this.hostFacts(host);
    if (requested.sudo === false && facts.sudo) {
      throw new SandboxError('invalid-input', `A directory sandbox runs as ${host.user}, who has sudo on ${host.name}, and that cannot be taken away for one sandbox; leave out --no-sudo or add the host with a user without sudo.`);
    }
    const checked = { ...profile, image: '', sudo: facts.sudo };
    validateProfile({ ...checked, image: 'directory' }, { cpus: facts.cpus, memory: facts.memory });
    return { profile: checked, user: host.user, workdir: directoryPaths(facts.home, request.id).workdir, sandboxKeys: false };
  }

  async create(spec: CreateSpec): Promise<ProviderSandbox> {
    if (!spec.host) throw new SandboxError('invalid-input', 'Name the machine for an ssh sandbox: --host NAME (see `sandbox host list`).');
    const host = await this.hosts.get(spec.host);
    if (host.docker) {
      const engine = this.engine(host);
      const made = await this.onEngine(host, () => engine.create({ ...spec, ownerId: containerOwner(spec.ownerId, host) }));
      return this.fromContainer(host, made);
    }
    const facts = await this.hostFacts(host);
    const paths = directoryPaths(facts.home, spec.id);
    const limits = await this.planLimits(host, spec, facts);
    const metadata: DirectoryMetadata = {
      format: 1,
      owner: spec.ownerId,
      host: host.name,
      id: spec.id,
      name: spec.name,
      agentId: spec.agentId,
      profile: spec.profile,
      user: host.user,
      createdAt: spec.createdAt,
      limits,
    };
    const now = new Date().toISOString();
    try {
      await this.run(host, CREATE_SCRIPT, [paths.root, spec.id, now], 'make the sandbox folder', JSON.stringify(metadata));
    } catch (error) {
      if (limits.slice) await this.run(host, SYSTEMD_REMOVE_SCRIPT, [limits.slice], 'remove the systemd slice').catch(() => undefined);
      throw error;
    }
    return this.fromDirectory(host, facts, { id: spec.id, state: 'running', since: now, metadata });
  }

  /** systemd's user manager where it takes the limits, else per-process rlimits; checked, never assumed. */
  private async planLimits(host: SshHost, spec: CreateSpec, facts: HostFacts): Promise<LimitPlan> {
    if (facts.systemd) {
      const slice = sliceName(spec.id);
      try {
        const observed = await this.run(host, SYSTEMD_SETUP_SCRIPT, [slice], 'set up the systemd slice', sliceUnit(spec.name, spec.profile));
        const plan = systemdPlan(slice, spec.profile, observed);
        if (plan) return plan;
      } catch {
        // falls through to rlimits
      }
      await this.run(host, SYSTEMD_REMOVE_SCRIPT, [slice], 'remove the systemd slice').catch(() => undefined);
    }
    return prlimitPlan(spec.profile, facts, host.user);
  }

  // ---- lifecycle -----------------------------------------------------------------------------

  async start(ref: string, signal?: AbortSignal): Promise<ProviderSandbox> {
    const target = parseRef(ref);
    const host = await this.hosts.get(target.host);
    if (target.kind === 'container') {
      const engine = this.engine(host);
      return this.fromContainer(host, await this.onEngine(host, () => engine.start(target.containerId, signal)));
    }
    return this.setState(host, target.id, 'running');
  }

  async stop(ref: string, signal?: AbortSignal): Promise<ProviderSandbox> {
    const target = parseRef(ref);
    const host = await this.hosts.get(target.host);
    if (target.kind === 'container') {
      const engine = this.engine(host);
      return this.fromContainer(host, await this.onEngine(host, () => engine.stop(target.containerId, signal)));
    }
    const listed = await this.mustFindDirectory(host, target.id);
    await this.killAll(host, listed);
    return this.setState(host, target.id, 'stopped');
  }

  async remove(ref: string, signal?: AbortSignal): Promise<void> {
    const target = parseRef(ref);
    const host = await this.hosts.find(target.host);
    if (!host) return; // the host was removed from this state dir: nothing of ours is reachable there
    if (target.kind === 'container') {
      const engine = this.engine(host);
      await this.onEngine(host, () => engine.remove(target.containerId, signal));
      return;
    }
    const facts = await this.hostFacts(host);
    const paths = directoryPaths(facts.home, target.id);
    const listed = await this.findDirectory(host, target.id);
    if (listed) await this.killAll(host, listed);
    const slice = listed?.metadata.limits.slice;
    if (slice) await this.run(host, SYSTEMD_REMOVE_SCRIPT, [slice], 'remove the systemd slice');
    await this.run(host, REMOVE_SCRIPT, [paths.root, target.id], `remove ${paths.dir}`);
  }

  /** Every process carrying the sandbox's marker, and its slice when it has one. */
  private async killAll(host: SshHost, listed: ListedDirectory): Promise<void> {
    await killProcessesWithEnv(this.session(host), `${SANDBOX_MARKER_ENV}=${listed.id}`);
    if (listed.metadata.limits.slice) await this.run(host, SYSTEMD_STOP_SCRIPT, [listed.metadata.limits.slice], 'stop the systemd slice');
  }

  private async setState(host: SshHost, id: string, state: 'running' | 'stopped'): Promise<ProviderSandbox> {
    const facts = await this.hostFacts(host);
    const now = new Date().toISOString();
    await this.run(host, SET_STATE_SCRIPT, [directoryPaths(facts.home, id).root, id, state, now], `mark the sandbox ${state}`);
    const listed = await this.mustFindDirectory(host, id);
    return this.fromDirectory(host, facts, listed);
  }

  // ---- listing -------------------------------------------------------------------------------

  async list(ownerId: string): Promise<ProviderSandbox[]> {
    const hosts = await this.hosts.list();
    const found = await Promise.all(
      hosts.map(async (host) => {
        try {
          const sandboxes = host.docker ? await this.listContainers(host, ownerId) : await this.listDirectories(host, ownerId);
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
    const engine = this.engine(host);
    const containers = await this.onEngine(host, () => engine.list(containerOwner(ownerId, host)));
    return containers.map((sandbox) => this.fromContainer(host, sandbox));
  }

  private async listDirectories(host: SshHost, ownerId: string, only = ''): Promise<ProviderSandbox[]> {
    const facts = await this.hostFacts(host);
    const root = sandboxesRoot(facts.home);
    const listed = parseListing(await this.run(host, LIST_SCRIPT, [root, only], 'list the sandbox folders'), { ownerId, host: host.name });
    return listed.map((entry) => this.fromDirectory(host, facts, entry));
  }

  private async findDirectory(host: SshHost, id: string): Promise<ListedDirectory | undefined> {
    const facts = await this.hostFacts(host);
    const root = directoryPaths(facts.home, id).root;
    // Any owner: the ref came from a record of ours, and a sandbox is found by its folder.
    const output = await this.run(host, LIST_SCRIPT, [root, id], 'look at the sandbox folder');
    return parseListing(output).find((entry) => entry.id === id);
  }

  private async mustFindDirectory(host: SshHost, id: string): Promise<ListedDirectory> {
    const listed = await this.findDirectory(host, id);
    if (!listed) throw new SandboxError('not-found', `The folder of sandbox ${id} is gone from host ${host.name}; it was removed outside Agent Sandboxes.`);
    return listed;
  }

  async inspect(ref: string): Promise<ProviderSandbox | undefined> {
    const target = parseRef(ref);
    const host = await this.hosts.find(target.host);
    if (!host) return undefined;
    if (target.kind === 'container') {
      const engine = this.engine(host);
      const sandbox = await this.onEngine(host, () => engine.inspect(target.containerId));
      return sandbox && this.fromContainer(host, sandbox);
    }
    const listed = await this.findDirectory(host, target.id);
    return listed && this.fromDirectory(host, await this.hostFacts(host), listed);
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

  private fromDirectory(host: SshHost, facts: HostFacts, listed: ListedDirectory): ProviderSandbox {
    const { metadata } = listed;
    const paths = directoryPaths(facts.home, listed.id);
    const running = listed.state === 'running';
    return {
      id: listed.id,
      name: metadata.name,
      agentId: metadata.agentId,
      profile: metadata.profile,
      user: host.user,
      workdir: paths.workdir,
      createdAt: metadata.createdAt,
      providerRef: directoryRef(host.name, listed.id),
      state: listed.state,
      startedAt: running ? listed.since : undefined,
      stoppedAt: running ? undefined : listed.since,
      ports: {},
      ssh: running ? { ...hostEndpoint(host), run: runContext(paths, listed.id, metadata.limits) } : undefined,
      placement: { host: host.name, kind: 'directory' },
      limits: metadata.limits.description,
    };
  }

  // ---- commands and logs ---------------------------------------------------------------------

  /** The controller runs commands over its own SSH session; this is the same path from the provider. */
  async exec(ref: string, request: ExecRequest): Promise<ExecResult> {
    const target = parseRef(ref);
    const host = await this.hosts.get(target.host);
    if (target.kind === 'container') {
      const engine = this.engine(host);
      return this.onEngine(host, () => engine.exec(target.containerId, request));
    }
    const sandbox = await this.inspect(ref);
    const run = sandbox?.ssh?.run;
    if (!sandbox || !run) throw new SandboxError('wrong-state', `The sandbox ${target.id} on host ${host.name} is not running; start it first.`);
    return sshExec(this.session(host), request, { loginUser: host.user, cwd: run.cwd, env: run.env, prefix: run.prefix });
  }

  async *logs(ref: string, options: LogOptions): AsyncIterable<LogLine> {
    const target = parseRef(ref);
    if (target.kind === 'container') {
      const host = await this.hosts.get(target.host);
      const engine = this.engine(host);
      yield* engine.logs(target.containerId, options);
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
    return this.engine(host).readHostKey(target.containerId);
  }

  async authorizeKey(ref: string, publicKey: string): Promise<void> {
    const target = parseRef(ref);
    if (target.kind !== 'container') return;
    const host = await this.hosts.get(target.host);
    await this.engine(host).authorizeKey(target.containerId, publicKey);
  }

  /** The engine's own messages name DOCKER_HOST and systemctl; over SSH the fix is on the host. */
  private async onEngine<T>(host: SshHost, work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      if (isSandboxError(error, 'engine-unavailable')) {
        throw new SandboxError(
          'engine-unavailable',
          `The Docker engine of host ${host.name} does not answer over SSH (${describeError(error.cause ?? error)}); check that \`docker version\` works for ${host.user} there.`,
          { cause: error },
        );
      }
      throw error;
    }
  }
}

/**
 * A Docker client for a host's engine: each API connection is a channel of the host's SSH
 * session (pinned key, the host's identity) running `docker system dial-stdio` there, as
 * `docker -H ssh://` does. Not docker-modem's own ssh protocol: that opens a new SSH connection
 * per request and builds request URLs Node is deprecating (apocas/docker-modem#184).
 */
export function dockerOverSsh(host: Pick<SshHost, 'host' | 'port'>, session: SshSession): Dockerode {
  // Kept alive between requests: each new channel costs a login shell's start on the host.
  // Few sockets, so idle ones never take the session's channel slots from other work.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 4, maxFreeSockets: 2 });
  agent.createConnection = (_options, callback) => {
    session.exec('docker system dial-stdio').then(
      ({ channel, release }) => {
        channel.once('close', release);
        channel.stderr.resume(); // the CLI's own complaints; the HTTP answer says what went wrong
        callback?.(null, asSocket(channel));
      },
      (error: Error) => callback?.(error, undefined as never),
    );
    return undefined;
  };
  // host and port only name the engine in messages; every byte goes through the agent.
  return new Dockerode({ protocol: 'http', host: host.host, port: host.port, agent } as Dockerode.DockerOptions);
}

/** The socket methods an HTTP agent calls on pooled sockets, as no-ops on an SSH channel. */
function asSocket(channel: Duplex): Duplex {
  const socket = channel as Duplex & Record<string, unknown>;
  for (const method of ['setTimeout', 'setKeepAlive', 'setNoDelay', 'ref', 'unref']) {
    if (typeof socket[method] !== 'function') socket[method] = () => socket;
  }
  return socket;
}

/**
 * The owner label of our containers on a host's engine: distinct from the local engine's, so a
 * host that is also this machine's engine never shows its containers twice.
 */
export function containerOwner(ownerId: string, host: SshHost): string {
  return `${ownerId}@${host.name}`;
}

function containerRef(host: string, containerId: string): string {
  return `${host}/container/${containerId}`;
}

function directoryRef(host: string, id: string): string {
  return `${host}/directory/${id}`;
}

function parseRef(ref: string): Ref {
  const [host, kind, id, ...rest] = ref.split('/');
  if (host && id && rest.length === 0) {
    if (kind === 'container') return { host, kind, containerId: id };
    if (kind === 'directory') return { host, kind, id };
  }
  throw new SandboxError('invalid-input', `"${ref}" is not a reference to a sandbox on an SSH host.`);
}
