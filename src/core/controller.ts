import { randomBytes } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { SandboxError, describeError, isSandboxError, throwIfAborted } from './errors';
import { desktopImageTag, ensureSandboxImage, sandboxImageTag } from './images';
import { assertSandboxImage } from './images/sandboxImage';
import { startFailure } from './startFailure';
import type { ExecRequest, ExecResult, Profile, ProviderKind, RunContext, SandboxRecord, SshEndpoint } from './model';
import { DEFAULT_PROFILE_LIMITS, validateName, validateProfile } from './profile';
import { noNetworkError } from './network/policy';
import { DockerProvider } from './providers/docker';
import { SshHostProvider } from './providers/sshHost';
import { HostRegistry } from './hosts/registry';
import { loadCredentials } from './hosts/credentials';
import type { LogLine, Provider, ProviderSandbox } from './providers/provider';
import { StateStore, type JournalEntry } from './store/stateStore';
import { pullTree, pushTree, unpackWithTar, type Manifest, type ReplacedLink, type SkippedLink, type SkippedPath, type SyncChannel } from './sync';
import { hostKeyAlias, jumpAlias, renderKnownHosts, renderSshConfig, sshAlias, type SshHostEntry } from './ssh/config';
import { generateEd25519 } from './ssh/keys';
import { SshSession, targetFor, type SshSessionOptions, type SshTarget } from './ssh/session';
import { PortForward } from './ssh/forward';
import { killProcessesWithEnv, sshExec } from './transport/sshExec';
import { EXEC_MARKER_ENV } from './transport/dockerExec';
import { openSshTtySession } from './transport/sshTty';
import { sshTerminalCommand, type TtySession, type TtySize } from './terminal';
import { writeFileAtomic } from './store/files';
import { sandboxEndError, sandboxEnded, whenSandboxEnds, type SandboxEnd } from './sandboxEnd';
import { ExecIdentityCheck } from './execIdentity';
import { OOM_COUNT_READ, outOfMemory } from './execMemory';
import { ExecOwnerRegistry, newExecId } from './execOwners';

/** The agent user of our images, and the owner given to pushed files. */
export const AGENT_USER = 'agent';
export const AGENT_UID = 1000;
export const AGENT_WORKDIR = '/home/agent/workspace';

/** A create that has sat in `creating` this long is interrupted even if its pid now belongs to someone else. */
const CREATE_STALE_MS = 30 * 60 * 1000;
const JOURNAL_OUTPUT_BYTES = 8 * 1024;

export interface Progress {
  step: 'validate' | 'image' | 'create' | 'push' | 'ready';
  message: string;
  fraction?: number;
}

export interface CreateOptions {
  name?: string;
  agentId?: string;
  provider?: ProviderKind;
  /** For the ssh provider: the registered host (`sandbox host add`) to make the sandbox on. */
  host?: string;
  profile?: Partial<Profile>;
  /** A local folder to push once the sandbox runs. */
  push?: { localRoot: string; remoteDir?: string; excludes?: string[] };
  /** Build the default image when it is missing (slow, shows progress) instead of failing. */
  buildImageIfMissing?: boolean;
  signal?: AbortSignal;
  onProgress?: (progress: Progress) => void;
}

export interface PushOptions {
  localRoot: string;
  remoteDir?: string;
  deleteExtraneous?: boolean;
  excludes?: string[];
  /** Ignore the stored manifest and send everything. */
  full?: boolean;
  signal?: AbortSignal;
  onProgress?: (progress: { phase: string; done: number; total: number; bytes?: number }) => void;
}

export interface PullOptions {
  remoteDir?: string;
  localRoot: string;
  maxBytes?: number;
  excludes?: string[];
  signal?: AbortSignal;
  onProgress?: (progress: { files: number; bytes: number }) => void;
}

export interface SyncSummary {
  direction: 'push' | 'pull';
  local: string;
  remote: string;
  files: number;
  bytes: number;
  deleted: number;
  unchanged?: number;
  /** Pull: symlinks not written (they lead outside the sandbox folder, or through a loop), each with why. */
  skippedLinks?: SkippedLink[];
  /** Pull: local symlinks that a folder or file of the sandbox replaced, with where they pointed. */
  replacedLinks?: ReplacedLink[];
  durationMs: number;
  /** Push: local paths not sent (unreadable, vanished, fifos...), with why; the rest went. */
  skipped?: SkippedPath[];
  /** Push: files and links the sandbox had changed since the last push that this push overwrote or removed. */
  overwrittenInSandbox?: string[];
  /** Push: links sent as written that lead outside the pushed folder. */
  linksOutside?: string[];
}

export type LogEntry =
  | { time: string; source: 'sandbox'; stream: 'stdout' | 'stderr'; text: string }
  | { time: string; source: 'journal'; entry: JournalEntry };

export interface ReconcileReport {
  adopted: string[];
  lost: string[];
  interrupted: string[];
}

export interface ControllerOptions {
  store?: StateStore;
  providers?: Partial<Record<ProviderKind, Provider>>;
  /**
   * How commands reach a sandbox. 'auto': the provider's own channel where it has a fast one
   * (the Docker engine), SSH elsewhere. 'ssh': always the sandbox's SSH connection.
   */
  execChannel?: 'auto' | 'ssh';
  ssh?: SshSessionOptions;
}

/**
 * The one API over every provider: create, start, stop, delete, list, status, exec, sync, logs.
 * Records in the state dir are a cache; each listing reconciles them with what providers report.
 */
export class SandboxController {
  readonly store: StateStore;
  private readonly providers: Partial<Record<ProviderKind, Provider>>;
  private readonly execChannel: 'auto' | 'ssh';
  private readonly sshOptions: SshSessionOptions;
  private readonly sessions = new Map<string, SshSession>();
  /** Connections to SSH hosts that sandbox containers there are reached through, by endpoint. */
  private readonly jumpSessions = new Map<string, SshSession>();
  private readonly portForwards = new Set<PortForward>();
  /** Providers made here rather than given: this controller closes them. */
  private readonly ownedProviders: Provider[] = [];
  private readonly identities: ExecIdentityCheck;
  private readonly owners: ExecOwnerRegistry;
  /** When each sandbox was last looked at for commands whose owner is gone. */
  private readonly orphanLooks = new Map<string, number>();

  constructor(options: ControllerOptions = {}) {
    this.store = options.store ?? new StateStore();
    if (options.providers) {
      this.providers = options.providers;
    } else {
      const sshHosts = new SshHostProvider({ hosts: new HostRegistry(this.store.root) });
      this.ownedProviders.push(sshHosts);
      this.providers = { docker: new DockerProvider(), ssh: sshHosts };
    }
    this.execChannel = options.execChannel ?? 'auto';
    this.sshOptions = options.ssh ?? {};
    this.identities = new ExecIdentityCheck(path.join(this.store.root, 'identities'));
    this.owners = new ExecOwnerRegistry(path.join(this.store.root, 'execs'));
  }

  /** Closes SSH connections and forwarded ports of this process. */
  dispose(): void {
    for (const forward of this.portForwards) forward.close();
    for (const session of this.sessions.values()) session.close();
    this.sessions.clear();
    for (const session of this.jumpSessions.values()) session.close();
    this.jumpSessions.clear();
    for (const provider of this.ownedProviders) provider.dispose?.();
  }

  provider(kind: ProviderKind): Provider {
    const provider = this.providers[kind];
    if (!provider) throw new SandboxError('invalid-input', `The provider "${kind}" is not set up here; use docker.`);
    return provider;
  }

  get docker(): DockerProvider {
    const provider = this.provider('docker');
    if (!(provider instanceof DockerProvider)) throw new SandboxError('invalid-input', 'The docker provider is not a Docker engine.');
    return provider;
  }

  /** The provider of machines the user brought (`sandbox host add`). */
  get sshHosts(): SshHostProvider {
    const provider = this.provider('ssh');
    if (!(provider instanceof SshHostProvider)) throw new SandboxError('invalid-input', 'The ssh provider is not set up for SSH hosts here.');
    return provider;
  }

  // ---- lifecycle ----------------------------------------------------------------------------

  /** create_vm(agent_id, config): makes a sandbox, starts it, and pushes a folder into it if asked. */
  async create(options: CreateOptions = {}): Promise<SandboxRecord> {
    const { signal, onProgress } = options;
    const kind = options.provider ?? 'docker';
    const provider = this.provider(kind);
    const id = randomBytes(6).toString('hex');
    const name = options.name ?? `sandbox-${id.slice(0, 6)}`;
    validateName(name);
    const agentId = options.agentId ?? 'default';
    if (agentId.length > 128 || /[\u0000-\u001f]/.test(agentId)) {
      throw new SandboxError('invalid-input', 'The agent id must be at most 128 printable characters; shorten it.');
    }
    // A desktop sandbox runs the desktop image unless another image is asked for.
    const defaultImage = options.profile?.desktop ? desktopImageTag() : sandboxImageTag();
    let profile: Profile = { image: defaultImage, ...DEFAULT_PROFILE_LIMITS, ...definedOnly(options.profile ?? {}) };
    let user = AGENT_USER;
    let workdir = AGENT_WORKDIR;
    let sandboxKeys = true;
    if (options.host !== undefined && !provider.prepareCreate) {
      throw new SandboxError('invalid-input', `--host names an SSH host, and the ${kind} provider has none; add --provider ssh.`);
    }

    onProgress?.({ step: 'validate', message: 'Checking the engine' });
    await provider.ping(signal);
    if (provider.prepareCreate) {
      const plan = await provider.prepareCreate({
        id,
        host: options.host,
        profile,
        requested: definedOnly(options.profile ?? {}),
        buildImageIfMissing: options.buildImageIfMissing,
        signal,
        onProgress: (p) => onProgress?.({ step: 'image', ...p }),
      });
      ({ profile, sandboxKeys } = plan);
      user = plan.user ?? user;
      workdir = plan.workdir ?? workdir;
    } else if (provider instanceof DockerProvider) {
      const [capacity, imageExists] = await Promise.all([provider.capacity(), provider.imageExists(profile.image)]);
      validateProfile(profile, capacity);
      if (!imageExists) {
        if (!options.buildImageIfMissing || profile.image !== defaultImage) {
          throw new SandboxError(
            'image-missing',
            profile.image === defaultImage
              ? `The image ${profile.image} is not built yet; run \`sandbox image build${options.profile?.desktop ? ' --desktop' : ''}\` first.`
              : `The image ${profile.image} is not on this Docker engine; build or load it there first.`,
          );
        }
        await this.buildImage({ signal, onProgress, desktop: Boolean(options.profile?.desktop) });
      } else {
        await assertSandboxImage(provider.docker, profile.image);
      }
    }
    if (options.push) await assertDirectory(options.push.localRoot);
    const existing = (await this.store.listRecords()).find((record) => record.name === name);
    if (existing) {
      throw new SandboxError('conflict', `A sandbox named ${name} already exists; pick another name or remove it with \`sandbox rm ${name}\`.`);
    }

    const now = new Date().toISOString();
    let record: SandboxRecord = {
      id,
      name,
      agentId,
      provider: kind,
      profile,
      state: 'creating',
      createdAt: now,
      updatedAt: now,
      workdir,
      user,
      ports: {},
      creator: { pid: process.pid, host: os.hostname() },
    };
    // The record goes down before the machine exists, so a crash from here on leaves a trace.
    await this.store.writeRecord(record);
    try {
      throwIfAborted(signal, 'Creating the sandbox');
      onProgress?.({ step: 'create', message: `Starting ${name}` });
      // The host key is made here and pinned before the sandbox's sshd ever runs; only its
      // public half stays on this side. The client key stays on this side alone.
      // A sandbox without an sshd of its own (a directory on an SSH host) gets no keys at all.
      const hostKey = generateEd25519(`sandbox-${name}`);
      const clientKey = sandboxKeys ? await this.store.clientKey(id) : undefined;
      const made = await provider.create({
        ssh: { hostPrivateKey: hostKey.privateKey, hostPublicKey: hostKey.publicKey, authorizedKey: clientKey?.publicKey ?? '' },
        host: options.host,
        id,
        name,
        agentId,
        ownerId: await this.store.ownerId(),
        profile,
        user: record.user,
        workdir: record.workdir,
        createdAt: now,
        signal,
      });
      record = { ...this.merge(record, made), state: 'creating' };
      await this.store.writeRecord(record);
      await this.journal(id, { kind: 'lifecycle', action: 'created', detail: `${kind} ${made.providerRef.slice(0, 12)}` });
      if (made.state !== 'running') throw new SandboxError('provider-error', `The sandbox ${name} did not keep running after its start; check the image ${profile.image}.`);
      if (options.push) {
        throwIfAborted(signal, 'Creating the sandbox');
        onProgress?.({ step: 'push', message: `Copying ${options.push.localRoot}` });
        await this.pushWith(record, { ...options.push, signal }, true);
      }
      throwIfAborted(signal, 'Creating the sandbox');
      record = { ...record, state: 'running', creator: undefined, updatedAt: new Date().toISOString() };
      await this.store.writeRecord(record);
      await this.refreshSshConfig();
      onProgress?.({ step: 'ready', message: `${name} is running` });
      return record;
    } catch (error) {
      // A machine that exited as it started explains the failure better than the step that met it.
      const why = record.providerRef && !isSandboxError(error, 'cancelled') ? await startFailure(provider, record.providerRef, name, profile.image) : undefined;
      await this.destroy(record).catch(() => undefined);
      throw why ?? error;
    }
  }

  /** Runs the image build of `sandbox image build`. */
  async buildImage(options: { force?: boolean; desktop?: boolean; signal?: AbortSignal; onProgress?: (progress: Progress) => void } = {}) {
    const docker = this.docker;
    await docker.ping(options.signal);
    return ensureSandboxImage(docker.docker, {
      force: options.force,
      desktop: options.desktop,
      signal: options.signal,
      onProgress: (p) => options.onProgress?.({ step: 'image', message: p.message ? `${p.step}: ${p.message}` : p.step, fraction: p.fraction }),
    });
  }

  /** start_vm */
  async start(ref: string, signal?: AbortSignal): Promise<SandboxRecord> {
    return this.transition(ref, 'started', (provider, providerRef) => provider.start(providerRef, signal));
  }

  /** stop_vm */
  async stop(ref: string, signal?: AbortSignal): Promise<SandboxRecord> {
    return this.transition(ref, 'stopped', (provider, providerRef) => provider.stop(providerRef, signal));
  }

  private async transition(
    ref: string,
    action: 'started' | 'stopped',
    change: (provider: Provider, providerRef: string) => Promise<ProviderSandbox>,
  ): Promise<SandboxRecord> {
    const record = await this.resolve(ref);
    if (!record.providerRef || record.state === 'lost' || isInterrupted(record)) throw this.brokenError(record);
    if (action === 'stopped') this.closeConnections(record.id);
    const updated = this.merge(record, await change(this.provider(record.provider), record.providerRef));
    await this.store.writeRecord(updated);
    await this.journal(record.id, { kind: 'lifecycle', action });
    await this.refreshSshConfig();
    return updated;
  }

  /** delete_vm: removes the machine and everything we keep about it. */
  async delete(ref: string, signal?: AbortSignal): Promise<SandboxRecord> {
    const record = await this.resolve(ref);
    await this.destroy(record, signal);
    return record;
  }

  private async destroy(record: SandboxRecord, signal?: AbortSignal): Promise<void> {
    const provider = this.provider(record.provider);
    const refs = new Set<string>();
    if (record.providerRef) refs.add(record.providerRef);
    // An interrupted create may have made a machine before it could note the reference.
    for (const sandbox of await provider.list(await this.store.ownerId())) {
      if (sandbox.id === record.id) refs.add(sandbox.providerRef);
    }
    this.closeConnections(record.id);
    for (const providerRef of refs) await provider.remove(providerRef, signal);
    await this.identities.forget(record.id);
    await this.owners.forget(record.id);
    await this.store.deleteRecord(record.id);
    await this.refreshSshConfig();
  }

  /** Removes sandboxes left broken by an interrupted create, and records whose machine is gone. */
  async prune(signal?: AbortSignal): Promise<SandboxRecord[]> {
    const broken = (await this.list()).filter((record) => record.state === 'lost' || isInterrupted(record));
    for (const record of broken) await this.destroy(record, signal);
    return broken;
  }

  // ---- listing and reconciling ----------------------------------------------------------------

  /** list_vms: every sandbox of this state dir, reconciled with the providers. */
  async list(): Promise<SandboxRecord[]> {
    const records = (await this.reconcile()).records;
    await this.killOrphanedExecs(records);
    return records;
  }

  /** get_vm_status */
  async status(ref: string): Promise<SandboxRecord> {
    const record = await this.resolve(ref);
    if (!record.providerRef) return record;
    const provider = this.provider(record.provider);
    const sandbox = await provider.inspect(record.providerRef);
    const updated = sandbox ? this.merge(record, sandbox) : this.markMissing(record, provider);
    if (JSON.stringify(updated) !== JSON.stringify(record)) await this.store.replaceRecord(updated);
    return updated;
  }

  async reconcile(): Promise<ReconcileReport & { records: SandboxRecord[] }> {
    const ownerId = await this.store.ownerId();
    const records = await this.store.listRecords();
    const report: ReconcileReport = { adopted: [], lost: [], interrupted: [] };
    const result: SandboxRecord[] = [];
    for (const [kind, provider] of Object.entries(this.providers) as [ProviderKind, Provider][]) {
      const remote = new Map((await provider.list(ownerId)).map((sandbox) => [sandbox.id, sandbox]));
      for (const record of records.filter((r) => r.provider === kind)) {
        const sandbox = remote.get(record.id);
        remote.delete(record.id);
        const updated = sandbox ? this.merge(record, sandbox) : this.markMissing(record, provider);
        if (updated.state === 'lost' && record.state !== 'lost') report.lost.push(record.name);
        if (isInterrupted(updated) && !isInterrupted(record)) report.interrupted.push(record.name);
        if (JSON.stringify(updated) !== JSON.stringify(record)) await this.store.replaceRecord(updated);
        result.push(updated);
      }
      for (const sandbox of remote.values()) {
        // Ours (by label) but unknown here: the provider is the truth, so take it in.
        const adopted = this.merge(
          { ...sandbox, provider: kind, state: sandbox.state, updatedAt: new Date().toISOString() },
          sandbox,
        );
        await this.store.writeRecord(adopted);
        await this.journal(adopted.id, { kind: 'lifecycle', action: 'adopted', detail: 'found on the provider without a record' });
        report.adopted.push(adopted.name);
        result.push(adopted);
      }
    }
    result.sort((a, b) => a.createdAt.localeCompare(b.createdAt));
    await this.refreshSshConfig(result);
    return { ...report, records: result };
  }

  private merge(record: SandboxRecord, sandbox: ProviderSandbox): SandboxRecord {
    const merged: SandboxRecord = {
      ...record,
      providerRef: sandbox.providerRef,
      state: sandbox.state,
      problem: sandbox.problem,
      ports: sandbox.ports,
      ssh: sandbox.ssh,
      placement: sandbox.placement,
      limits: sandbox.limits,
      startedAt: sandbox.startedAt ?? record.startedAt,
      stoppedAt: sandbox.stoppedAt,
    };
    if (record.state === 'creating' || isInterrupted(record)) return this.creatingState(merged, record);
    const changed = merged.state !== record.state || merged.problem !== record.problem;
    return changed ? { ...merged, updatedAt: new Date().toISOString() } : merged;
  }

  private markMissing(record: SandboxRecord, provider?: Provider): SandboxRecord {
    if (record.state === 'creating' || isInterrupted(record)) return this.creatingState(record, record);
    if (record.state === 'lost') return record;
    // Not listed because its host did not answer: unknown, not gone.
    const unreachable = record.providerRef ? provider?.unreachable?.(record.providerRef) : undefined;
    if (unreachable) {
      if (record.state === 'error' && record.problem === unreachable) return record;
      return { ...record, state: 'error', problem: unreachable, updatedAt: new Date().toISOString() };
    }
    return {
      ...record,
      ports: {},
      ssh: undefined,
      state: 'lost',
      problem: `The machine of ${record.name} is gone (removed outside Agent Sandboxes); forget it with \`sandbox rm ${record.name}\`.`,
      updatedAt: new Date().toISOString(),
    };
  }

  /** A sandbox still being made: leave it to its creator while that process lives. */
  private creatingState(current: SandboxRecord, record: SandboxRecord): SandboxRecord {
    if (record.state === 'creating' && creatorAlive(record)) return { ...current, state: 'creating', problem: undefined };
    return {
      ...current,
      state: 'error',
      problem: `Creating ${record.name} was interrupted; remove it with \`sandbox rm ${record.name}\` or \`sandbox prune\`.`,
      updatedAt: isInterrupted(record) ? record.updatedAt : new Date().toISOString(),
    };
  }

  private brokenError(record: SandboxRecord): SandboxError {
    return new SandboxError('wrong-state', record.problem ?? `${record.name} has no machine; remove it with \`sandbox rm ${record.name}\`.`);
  }

  /** Finds a sandbox by id, name, or a unique prefix of either. */
  async resolve(ref: string): Promise<SandboxRecord> {
    const found = matchRecord(await this.store.listRecords(), ref);
    if (found) return found;
    // Maybe made by another state dir of the same owner, or never recorded: ask the providers.
    const reconciled = matchRecord(await this.list(), ref);
    if (reconciled) return reconciled;
    throw new SandboxError('not-found', `No sandbox is called ${ref}; see \`sandbox list\`.`);
  }

  // ---- exec ----------------------------------------------------------------------------------

  /** execute_in_vm: runs a command; a non-zero exit is a result, not an error. */
  async exec(ref: string, request: ExecRequest): Promise<ExecResult> {
    const record = await this.resolve(ref);
    return this.execIn(record, request);
  }

  /** exec for the product's own looks into a sandbox (what runs there): not journalled as the agent's work. */
  async inspectExec(ref: string, request: ExecRequest): Promise<ExecResult> {
    return this.execIn(await this.resolve(ref), request, false);
  }

  /**
   * `internal` is for the controller's own steps: a create pushes into a sandbox that is still
   * `creating` and runs as the sandbox user whatever the profile says about root.
   */
  private async execIn(record: SandboxRecord, request: ExecRequest, journal = true, internal = false): Promise<ExecResult> {
    this.assertUsable(record, internal);
    const user = request.user ?? record.user;
    if (!internal) await this.assertUserAllowed(record, user);
    const full: ExecRequest = {
      ...request,
      user,
      cwd: request.cwd === undefined ? record.workdir : path.posix.resolve(record.workdir, request.cwd),
      execId: newExecId(),
    };
    await this.killOrphanedExecs([record], true);
    // Owned by this process unless detached: a later call kills it once this process is gone.
    // The exec agent needs no note: it ends with its host process and kills what it runs.
    const owned = !request.detached && !this.diesWithOwner(record, full);
    const release = owned ? await this.owners.add(record.id, full.execId!, user).catch(() => undefined) : undefined;
    let result: ExecResult;
    try {
      result = await this.transport(record, full);
      const memory = await outOfMemory(result, record.profile.memory, () => this.transport(record, { ...OOM_COUNT_READ, user }));
      result = { ...result, ...(memory ? { outOfMemory: memory } : {}) };
    } catch (error) {
      const wrongState = isSandboxError(error, 'wrong-state');
      if (journal) await this.journalExec(record, full, request, undefined, describeError(error));
      if (wrongState) {
        throw new SandboxError('wrong-state', `${record.name} is not running; start it with \`sandbox start ${record.name}\`.`, { cause: error });
      }
      if (isSandboxError(error, 'not-found')) throw this.brokenError(this.markMissing(record));
      throw error;
    } finally {
      void release?.().catch(() => undefined);
    }
    if (journal) await this.journalExec(record, full, request, result);
    return result;
  }

  /**
   * An interactive login shell with a TTY in the sandbox, as its user in its workspace: over the
   * provider's own channel where it has one (the local Docker engine), otherwise a PTY over the
   * sandbox's SSH connection (SSH hosts: a folder's terminal lands under its marker and limits).
   */
  async openTerminal(ref: string, options: { size?: TtySize } = {}): Promise<TtySession> {
    const record = await this.resolve(ref);
    this.assertUsable(record, false);
    // The terminal's user is held to the same rule as every command on a sandbox without sudo.
    await this.assertUserAllowed(record, record.user);
    const provider = this.provider(record.provider);
    if (provider.openTerminal && this.execChannel !== 'ssh') {
      return provider.openTerminal(record.providerRef!, { user: record.user, cwd: record.workdir, size: options.size });
    }
    return openSshTtySession(await this.session(record), sshTerminalCommand(record), options);
  }

  /** Whether this command runs in the exec agent, which ends (killing it) when this process does. */
  private diesWithOwner(record: SandboxRecord, request: ExecRequest): boolean {
    const docker = this.providers.docker;
    return !this.usesSsh(record) && record.provider === 'docker' && docker instanceof DockerProvider && docker.runsInAgent(record.providerRef!, request);
  }

  /**
   * Kills commands in these sandboxes whose owning process is gone (a CLI killed with SIGKILL).
   * `throttled`: on the path of every exec, a sandbox is looked at once a second at most.
   */
  private async killOrphanedExecs(records: SandboxRecord[], throttled = false): Promise<void> {
    if (throttled) {
      const now = Date.now();
      records = records.filter((record) => now - (this.orphanLooks.get(record.id) ?? 0) >= 1000);
      for (const record of records) this.orphanLooks.set(record.id, now);
      if (records.length === 0) return;
    }
    const orphans = await this.owners.orphans(records.map((record) => record.id));
    for (const orphan of orphans) {
      const record = records.find((candidate) => candidate.id === orphan.sandboxId)!;
      try {
        if (record.state === 'running' && record.providerRef) {
          if (this.usesSsh(record)) await killProcessesWithEnv(await this.session(record), `${EXEC_MARKER_ENV}=${orphan.execId}`);
          else await this.provider(record.provider).killExec?.(record.providerRef, orphan.execId, orphan.user);
        }
        await this.owners.remove(orphan.sandboxId, orphan.execId);
      } catch {
        // The sandbox does not answer now: the next call tries again.
      }
    }
  }

  /** The command on the sandbox's channel: SSH, or the provider's own. */
  private async transport(record: SandboxRecord, request: ExecRequest): Promise<ExecResult> {
    const run = record.ssh?.run;
    return this.usesSsh(record)
      ? sshExec(await this.session(record), request, { loginUser: record.ssh?.user ?? record.user, cwd: record.workdir, env: run?.env, prefix: run?.prefix })
      : this.provider(record.provider).exec(record.providerRef!, request);
  }

  /**
   * On a sandbox made without sudo, refuses a user spec that gives root's or sudo's rights,
   * however it is spelled: the ids are asked of the sandbox, through the command's channel.
   */
  async assertUserAllowed(record: SandboxRecord, user: string): Promise<void> {
    if (record.profile.sudo) return;
    const ssh = this.usesSsh(record);
    const loginUser = record.ssh?.user ?? record.user;
    if (ssh && user !== loginUser) {
      // Over SSH another user means sudo, which this sandbox does not give.
      throw new SandboxError('invalid-input', `The sandbox ${record.name} was made without sudo, so its commands run only as ${loginUser} over SSH; leave out the user "${user}".`);
    }
    const directory = record.placement?.kind === 'directory';
    await this.identities.assertAllowed(record, user, ssh ? 'ssh' : 'engine', {
      probe: (request) => this.transport(record, request),
      // A host's own account has no root for us to read with; its sudo was checked when it was added.
      asRoot: directory ? undefined : (request) => this.provider(record.provider).exec(record.providerRef!, request),
    });
  }

  /** Refuses work on a sandbox that cannot take it, with the reason and what to do. */
  private assertUsable(record: SandboxRecord, internal: boolean): void {
    if (!record.providerRef || record.state === 'lost' || isInterrupted(record)) throw this.brokenError(record);
    if (record.state === 'creating' && !internal) {
      throw new SandboxError('wrong-state', `${record.name} is still being created; wait for its start to finish.`);
    }
    if (record.state === 'stopped') {
      throw new SandboxError('wrong-state', `${record.name} is stopped; start it with \`sandbox start ${record.name}\`.`);
    }
  }

  private async journalExec(record: SandboxRecord, full: ExecRequest, request: ExecRequest, result?: ExecResult, error?: string): Promise<void> {
    const outputTooLong = (text: string) => text.length > JOURNAL_OUTPUT_BYTES;
    await this.journal(record.id, {
      kind: 'exec',
      command: request.command,
      cwd: full.cwd,
      user: full.user,
      envKeys: request.env ? Object.keys(request.env) : undefined, // values may be secrets
      exitCode: result?.exitCode ?? null,
      signal: result?.signal,
      durationMs: result?.durationMs ?? 0,
      timedOut: result?.timedOut ?? false,
      cancelled: result?.cancelled ?? false,
      stdout: result?.stdout.slice(0, JOURNAL_OUTPUT_BYTES) ?? '',
      stderr: result?.stderr.slice(0, JOURNAL_OUTPUT_BYTES) ?? '',
      truncated: result ? result.truncated || outputTooLong(result.stdout) || outputTooLong(result.stderr) : false,
      error,
      outOfMemory: result?.outOfMemory,
    });
  }

  // ---- ssh -----------------------------------------------------------------------------------

  /**
   * Whether commands for this sandbox go over SSH rather than the provider's own channel: the
   * fastest healthy one. On Docker that is the exec agent (about 6 ms), then SSH (about 20 ms)
   * where the image has no agent, then a plain engine exec (about 100 ms).
   */
  private usesSsh(record: SandboxRecord): boolean {
    if (this.execChannel === 'ssh' || record.provider !== 'docker') return true;
    const provider = this.providers.docker;
    return record.ssh !== undefined && provider instanceof DockerProvider && provider.lacksFastChannel(record.providerRef!);
  }

  /** The persistent SSH connection of a sandbox; it follows the sandbox to a new port after a restart. */
  async session(ref: string | SandboxRecord): Promise<SshSession> {
    const record = typeof ref === 'string' ? await this.resolve(ref) : ref;
    if (record.profile.network === 'none') throw noNetworkError(record.name);
    let session = this.sessions.get(record.id);
    if (!session) {
      session = new SshSession(async () => {
        const current = await this.status(record.id);
        const endpoint = await this.sshEndpoint(current);
        const target = targetFor(current.name, endpoint, await this.credentials(endpoint, current.id));
        const jump = endpoint.jump;
        if (jump) {
          const through = this.jumpSession(jump);
          // Plain errors from the channel, so a sandbox sshd still starting is retried like a refused port.
          target.tunnel = async () => {
            const client = await through.connection();
            return new Promise((resolve, reject) =>
              client.forwardOut('127.0.0.1', 0, endpoint.host, endpoint.port, (error, channel) => (error ? reject(error) : resolve(channel))),
            );
          };
        }
        return target;
        // Our sandbox image's sshd allows 64 sessions; a host's own sshd usually 10.
      }, { maxChannels: record.placement?.kind === 'directory' ? 8 : 48, ...this.sshOptions });
      this.sessions.set(record.id, session);
    }
    return session;
  }

  /** What logs in to an endpoint: the user's own key file or agent (an SSH host), else the sandbox's client key. */
  private async credentials(endpoint: SshEndpoint, sandboxId?: string): Promise<Pick<SshTarget, 'privateKey' | 'agent'>> {
    if (endpoint.identityFile || endpoint.agent) return loadCredentials(endpoint);
    return { privateKey: (await this.store.clientKey(sandboxId!)).privateKey };
  }

  /** One connection per SSH host that sandbox containers are reached through. */
  private jumpSession(jump: NonNullable<SshEndpoint['jump']>): SshSession {
    const key = `${jump.user}@${jump.host}:${jump.port} ${jump.hostKey}`;
    let session = this.jumpSessions.get(key);
    if (!session) {
      session = new SshSession(async () => targetFor(`host ${jump.name}`, jump, await this.credentials(jump)), this.sshOptions);
      this.jumpSessions.set(key, session);
    }
    return session;
  }

  /**
   * Where a sandbox's sshd answers and the key it must present. A sandbox made before keys were
   * pinned, or whose client key was lost here, is fixed up over the provider's own trusted
   * channel (the engine's API), never by believing what the SSH server says.
   */
  async sshEndpoint(record: SandboxRecord): Promise<SshEndpoint> {
    this.assertUsable(record, record.state === 'creating');
    if (record.profile.network === 'none') throw noNetworkError(record.name);
    const provider = this.provider(record.provider);
    let endpoint = record.ssh;
    if (!endpoint && record.ports['22'] && provider.readHostKey) {
      const hostKey = await provider.readHostKey(record.providerRef!);
      if (hostKey) endpoint = { host: '127.0.0.1', port: record.ports['22'], user: record.user, hostKey };
    }
    if (!endpoint) {
      throw new SandboxError('wrong-state', `${record.name} cannot be reached over SSH (no SSH port or pinned key); restart it with \`sandbox stop ${record.name}\` and \`sandbox start ${record.name}\`.`);
    }
    // A host's own login (a directory sandbox) needs no key of ours in the machine.
    if (endpoint.identityFile || endpoint.agent) return endpoint;
    const key = await this.store.clientKey(record.id);
    if (key.created) {
      if (!provider.authorizeKey) throw new SandboxError('wrong-state', `The SSH key of ${record.name} is missing here and cannot be restored; recreate the sandbox.`);
      await provider.authorizeKey(record.providerRef!, key.publicKey);
    }
    return endpoint;
  }

  /** What `ssh` needs to log in: our config file and the sandbox's Host alias in it. */
  async sshTarget(ref: string): Promise<{ alias: string; configFile: string; command: string[]; record: SandboxRecord; run?: RunContext }> {
    const record = await this.status(ref);
    const endpoint = await this.sshEndpoint(record);
    // Hand out the command only once the sandbox's sshd answers (it starts with the sandbox).
    await (await this.session(record)).connection();
    await this.refreshSshConfig();
    const alias = sshAlias(record.name);
    const configFile = this.store.sshConfigPath;
    // `run`: a directory sandbox shares the host's login, so the login is to be landed in its folder.
    return { alias, configFile, command: ['ssh', '-F', configFile, alias], record, run: endpoint.run };
  }

  /**
   * Rewrites our SSH config and known_hosts when the set of reachable sandboxes (or a port)
   * changed: one block per sandbox with an SSH endpoint.
   */
  async refreshSshConfig(records?: SandboxRecord[]): Promise<string> {
    const all = records ?? (await this.store.listRecords());
    const entries: SshHostEntry[] = all
      .filter((record) => record.ssh && record.state === 'running')
      .map((record): SshHostEntry => {
        const endpoint = record.ssh!;
        const jump = endpoint.jump;
        return {
          alias: sshAlias(record.name),
          endpoint,
          hostKeyAlias: hostKeyAlias(record.id),
          identityFile: this.identityFileOf(endpoint, record.id),
          jump: jump && { alias: jumpAlias(jump.name), endpoint: jump, hostKeyAlias: jumpAlias(jump.name), identityFile: this.identityFileOf(jump) },
        };
      });
    const config = renderSshConfig(entries, this.store.knownHostsPath);
    const knownHosts = renderKnownHosts(entries);
    const current = await readFile(this.store.sshConfigPath, 'utf8').catch(() => undefined);
    const currentHosts = await readFile(this.store.knownHostsPath, 'utf8').catch(() => undefined);
    if (current !== config || currentHosts !== knownHosts) {
      // known_hosts first: a config block never names a key that is not pinned yet.
      await writeFileAtomic(this.store.knownHostsPath, knownHosts, 0o600);
      await writeFileAtomic(this.store.sshConfigPath, config, 0o600);
    }
    return this.store.sshConfigPath;
  }

  /** For our OpenSSH config: the user's key file, none for the agent, else the sandbox's client key. */
  private identityFileOf(endpoint: SshEndpoint, sandboxId?: string): string | undefined {
    if (endpoint.agent) return undefined;
    return endpoint.identityFile ?? this.store.clientKeyPath(sandboxId!);
  }

  /** Opens 127.0.0.1:<localPort> here, carried over SSH to 127.0.0.1:<remotePort> in the sandbox. */
  async forward(ref: string, remotePort: number, options: { localPort?: number } = {}): Promise<PortForward> {
    for (const port of [remotePort, ...(options.localPort !== undefined ? [options.localPort] : [])]) {
      if (!Number.isInteger(port) || port < 1 || port > 65535) {
        throw new SandboxError('invalid-input', `${port} is not a port; give a number from 1 to 65535.`);
      }
    }
    const record = await this.resolve(ref);
    this.assertUsable(record, false);
    const session = await this.session(record);
    await session.connection(); // fail now, not on the first browser request
    const forward = await PortForward.open(session, { sandboxId: record.id, sandboxName: record.name, remotePort, localPort: options.localPort });
    this.portForwards.add(forward);
    forward.once('close', () => this.portForwards.delete(forward));
    return forward;
  }

  /** Forwarded ports of this process, of one sandbox or all. */
  forwards(sandboxId?: string): PortForward[] {
    return [...this.portForwards].filter((forward) => sandboxId === undefined || forward.sandboxId === sandboxId);
  }

  private closeConnections(sandboxId: string): void {
    for (const forward of this.forwards(sandboxId)) forward.close();
    this.sessions.get(sandboxId)?.close();
    this.sessions.delete(sandboxId);
  }

  // ---- sync ----------------------------------------------------------------------------------

  /** Sync rides on exec alone, so it works over whatever channel exec uses. */
  private channel(record: SandboxRecord, internal: boolean): SyncChannel {
    const exec = (request: ExecRequest) => this.execIn(record, request, false, internal);
    return { exec, putArchive: (directory, tar, signal) => unpackWithTar(exec, directory, tar, signal) };
  }

  /** sync_files, local to sandbox. */
  async push(ref: string, options: PushOptions): Promise<SyncSummary> {
    return this.pushWith(await this.resolve(ref), options);
  }

  private async pushWith(record: SandboxRecord, options: PushOptions, internal = false): Promise<SyncSummary> {
    this.assertUsable(record, internal);
    const localRoot = path.resolve(options.localRoot);
    const remoteDir = path.posix.resolve(record.workdir, options.remoteDir ?? '.');
    const manifestFile = this.store.manifestPath(record.id, localRoot, remoteDir);
    const previous = options.full ? undefined : await this.store.readManifest<Manifest>(manifestFile);
    try {
      const result = await pushTree({
        channel: this.channel(record, internal),
        localRoot,
        remoteDir,
        previous,
        deleteExtraneous: options.deleteExtraneous,
        excludes: options.excludes,
        // Our images' agent user; on a host's own account files stay the login user's.
        owner: record.placement?.kind === 'directory' ? undefined : { uid: AGENT_UID, gid: AGENT_UID },
        signal: options.signal,
        onProgress: options.onProgress,
      });
      await this.store.writeManifest(manifestFile, result.manifest);
      const summary: SyncSummary = {
        direction: 'push',
        local: localRoot,
        remote: remoteDir,
        files: result.filesSent,
        bytes: result.bytesSent,
        deleted: result.deleted.length,
        unchanged: result.unchanged,
        durationMs: result.durationMs,
        skipped: result.skipped,
        overwrittenInSandbox: result.overwrittenInSandbox,
        linksOutside: result.linksOutside,
      };
      await this.journal(record.id, { kind: 'sync', ...summary });
      return summary;
    } catch (error) {
      await this.journal(record.id, { kind: 'sync', direction: 'push', local: localRoot, remote: remoteDir, files: 0, bytes: 0, durationMs: 0, error: describeError(error) });
      throw error;
    }
  }

  /** sync_files, sandbox to local: the sandbox is treated as hostile. */
  async pull(ref: string, options: PullOptions): Promise<SyncSummary> {
    const record = await this.resolve(ref);
    this.assertUsable(record, false);
    const localRoot = path.resolve(options.localRoot);
    const remoteDir = path.posix.resolve(record.workdir, options.remoteDir ?? '.');
    try {
      const result = await pullTree({
        channel: this.channel(record, false),
        remoteDir,
        localRoot,
        maxBytes: options.maxBytes,
        excludes: options.excludes,
        signal: options.signal,
        onProgress: options.onProgress,
      });
      const { files, bytes, skippedLinks, replacedLinks, durationMs } = result;
      const summary: SyncSummary = { direction: 'pull', local: localRoot, remote: remoteDir, files, bytes, deleted: 0, skippedLinks, replacedLinks, durationMs };
      // The journal keeps counts; the lists are in the summary.
      await this.journal(record.id, { kind: 'sync', direction: 'pull', local: localRoot, remote: remoteDir, files, bytes, deleted: 0, durationMs });
      return summary;
    } catch (error) {
      await this.journal(record.id, { kind: 'sync', direction: 'pull', local: localRoot, remote: remoteDir, files: 0, bytes: 0, durationMs: 0, error: describeError(error) });
      throw error;
    }
  }

  // ---- logs ----------------------------------------------------------------------------------

  /** get_logs: the sandbox's own output and its journal, in time order; `follow` keeps going until the signal aborts. */
  async *logs(ref: string, options: { follow?: boolean; tail?: number; signal?: AbortSignal } = {}): AsyncGenerator<LogEntry> {
    const record = await this.resolve(ref);
    const provider = this.provider(record.provider);
    const journal = (await this.store.readJournal(record.id)).map((entry): LogEntry => ({ time: entry.time, source: 'journal', entry }));
    const ownLines: LogEntry[] = [];
    let machineRef = record.providerRef;
    try {
      if (record.providerRef) {
        for await (const line of provider.logs(record.providerRef, { tail: options.tail })) ownLines.push(sandboxLine(line));
      }
    } catch (error) {
      // A lost machine has no output left, but its journal still tells its history.
      if (!isSandboxError(error, 'not-found')) throw error;
      machineRef = undefined;
    }
    let history = [...journal, ...ownLines].sort((a, b) => a.time.localeCompare(b.time));
    if (options.tail !== undefined) history = options.tail === 0 ? [] : history.slice(-options.tail);
    yield* history;
    if (!options.follow) return;

    const stop = new AbortController();
    const onAbort = () => stop.abort();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    if (options.signal?.aborted) return;
    const live = mergeAsync<LogEntry>([
      mapAsync(this.store.followJournal(record.id, stop.signal), (entry) => ({ time: entry.time, source: 'journal', entry })),
      machineRef
        ? // The engine ends this stream when the sandbox stops or goes: following ends with it.
          endWith(mapAsync(provider.logs(machineRef, { follow: true, tail: 0, signal: stop.signal }), sandboxLine), () => stop.abort())
        : (async function* () {})(),
    ]);
    // Following ends when the sandbox stops or goes, also where the provider's stream would not end.
    let ended: SandboxEnd | undefined;
    void whenSandboxEnds(this, record, stop.signal).then((end) => {
      ended = end;
      if (end) stop.abort();
    });
    try {
      yield* live;
    } finally {
      stop.abort();
      options.signal?.removeEventListener('abort', onAbort);
    }
    if (options.signal?.aborted) return;
    const end = ended ?? (await sandboxEnded(this, record));
    if (end?.removed) throw sandboxEndError(end, 'its logs end here');
  }

  private async journal(id: string, entry: DistributiveOmit<JournalEntry, 'time'>): Promise<void> {
    await this.store.appendJournal(id, { time: new Date().toISOString(), ...entry } as JournalEntry);
  }
}

type DistributiveOmit<T, K extends keyof never> = T extends unknown ? Omit<T, K> : never;

function sandboxLine(line: LogLine): LogEntry {
  return { time: line.time, source: 'sandbox', stream: line.stream, text: line.text };
}

export function isInterrupted(record: SandboxRecord): boolean {
  return record.state === 'error' && record.creator !== undefined;
}

function creatorAlive(record: SandboxRecord): boolean {
  const creator = record.creator;
  if (!creator) return false;
  if (Date.now() - Date.parse(record.createdAt) > CREATE_STALE_MS) return false;
  if (creator.host !== os.hostname()) return true; // cannot tell from here; trust it until stale
  try {
    process.kill(creator.pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function matchRecord(records: SandboxRecord[], ref: string): SandboxRecord | undefined {
  const exact = records.find((r) => r.id === ref) ?? records.find((r) => r.name === ref);
  if (exact) return exact;
  const candidates = records.filter((r) => r.id.startsWith(ref) || r.name.startsWith(ref));
  if (candidates.length > 1) {
    const names = candidates.map((r) => r.name).join(', ');
    throw new SandboxError('ambiguous', `"${ref}" matches several sandboxes (${names}); give more of the name or id.`);
  }
  return candidates[0];
}

async function assertDirectory(localRoot: string): Promise<void> {
  const info = await stat(localRoot).catch(() => undefined);
  if (!info?.isDirectory()) throw new SandboxError('invalid-input', `The folder ${localRoot} does not exist; give a folder to copy into the sandbox.`);
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

async function* endWith<T>(source: AsyncIterable<T>, onEnd: () => void): AsyncGenerator<T> {
  yield* source;
  onEnd();
}

async function* mapAsync<T, U>(source: AsyncIterable<T>, map: (value: T) => U): AsyncGenerator<U> {
  for await (const value of source) yield map(value);
}

/** Interleaves several async iterables as their values arrive. */
async function* mergeAsync<T>(sources: AsyncIterable<T>[]): AsyncGenerator<T> {
  const iterators = sources.map((source) => source[Symbol.asyncIterator]());
  const pending = new Map<number, Promise<{ index: number; result: IteratorResult<T> }>>();
  const pull = (index: number) => pending.set(index, iterators[index]!.next().then((result) => ({ index, result })));
  iterators.forEach((_, index) => pull(index));
  try {
    while (pending.size > 0) {
      const { index, result } = await Promise.race(pending.values());
      if (result.done) {
        pending.delete(index);
        continue;
      }
      pull(index);
      yield result.value;
    }
  } finally {
    await Promise.all(iterators.map((iterator) => iterator.return?.()));
  }
}
