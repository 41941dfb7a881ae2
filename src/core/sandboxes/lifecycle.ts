import { randomBytes } from 'node:crypto';
import { stat } from 'node:fs/promises';
import * as os from 'node:os';
import type { PortForwards } from '../connections/portForwards';
import type { SandboxConnections } from '../connections/sandboxConnections';
import type { SshConfigWriter } from '../connections/sshConfigWriter';
import { SandboxError, describeError, isSandboxError, throwIfAborted } from '../errors';
import type { EventBus } from '../events/bus';
import type { EnsureImageResult } from '../images';
import { desktopImageTag, sandboxImageTag } from '../images';
import type { Profile, ProviderKind, SandboxRecord } from '../model';
import { DEFAULT_PROFILE_LIMITS, validateName } from '../profile';
import type { Provider, ProviderSandbox } from '../providers/provider';
import { DEFAULT_PROVIDER_KIND, type ProviderSet } from '../providers/registry';
import { brokenError, isInterrupted } from '../sandboxState';
import { generateEd25519 } from '../ssh/keys';
import { startFailure } from '../providers/startFailure';
import type { StateStore } from '../store/stateStore';
import { keepFailedCreate } from './failedCreate';
import { mergeRecord } from './records';
import { AGENT_USER, AGENT_WORKDIR, type BuildImageOptions, type CreateOptions, type PushOptions, type SyncSummary } from './types';

export interface SandboxLifecycleDeps {
  store: StateStore;
  providers: ProviderSet;
  events: EventBus;
  connections: SandboxConnections;
  forwards: PortForwards;
  sshConfig: SshConfigWriter;
  resolve(ref: string): Promise<SandboxRecord>;
  list(): Promise<SandboxRecord[]>;
  /** The create's own push, into a sandbox still `creating`. */
  push(record: SandboxRecord, options: PushOptions): Promise<SyncSummary>;
  /** Forgets what the exec service noted about a removed sandbox. */
  forgetExecs(sandboxId: string): Promise<void>;
}

/** Making, starting, stopping and removing sandboxes, and building their image. */
export class SandboxLifecycle {
  constructor(private readonly deps: SandboxLifecycleDeps) {}

  /** create_vm(agent_id, config): makes a sandbox, starts it, and pushes a folder into it if asked. */
  async create(options: CreateOptions = {}): Promise<SandboxRecord> {
    const began = Date.now();
    const id = randomBytes(6).toString('hex');
    const name = options.name ?? `sandbox-${id.slice(0, 6)}`;
    const kind = options.provider ?? DEFAULT_PROVIDER_KIND;
    let record: SandboxRecord;
    try {
      record = await this.make(id, name, kind, options);
    } catch (error) {
      // Told after the cleanup, so a listener never sees a half-made sandbox as failed; never in the error's way.
      const failed = {
        type: 'sandbox.createFailed',
        sandboxId: id,
        name,
        provider: kind,
        error: describeError(error),
        durationMs: Date.now() - began,
      } as const;
      await this.deps.events.emit({ ...failed, errorCode: isSandboxError(error) ? error.code : undefined }).catch(() => undefined);
      throw error;
    }
    await this.deps.events.emit({ type: 'sandbox.ready', sandboxId: id, name, durationMs: Date.now() - began });
    return record;
  }

  /** The create itself; `create` tells how it ended. */
  private async make(id: string, name: string, kind: ProviderKind, options: CreateOptions): Promise<SandboxRecord> {
    const { store, providers, events } = this.deps;
    const { signal, onProgress } = options;
    const provider = providers.get(kind);
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
    const plan = await providers.prepareCreate(kind, {
      id,
      host: options.host,
      profile,
      requested: definedOnly(options.profile ?? {}),
      buildImageIfMissing: options.buildImageIfMissing,
      cloud: options.cloud,
      agentId,
      taskId: options.taskId,
      signal,
      onProgress: (p) => onProgress?.({ step: 'image', ...p }),
    });
    if (plan) {
      ({ profile, sandboxKeys } = plan);
      user = plan.user ?? user;
      workdir = plan.workdir ?? workdir;
    }
    if (options.push) await assertDirectory(options.push.localRoot);
    const existing = (await store.listRecords()).find((record) => record.name === name);
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
    await store.writeRecord(record);
    try {
      throwIfAborted(signal, 'Creating the sandbox');
      onProgress?.({ step: 'create', message: `Starting ${name}` });
      // The host key is made here and pinned before the sandbox's sshd ever runs; only its
      // public half stays on this side. The client key stays on this side alone.
      // A sandbox without an sshd of its own (a directory on an SSH host) gets no keys at all.
      const hostKey = generateEd25519(`sandbox-${name}`);
      const clientKey = sandboxKeys ? await store.clientKey(id) : undefined;
      const made = await provider.create({
        ssh: { hostPrivateKey: hostKey.privateKey, hostPublicKey: hostKey.publicKey, authorizedKey: clientKey?.publicKey ?? '' },
        host: options.host,
        fromSnapshot: options.fromSnapshot,
        cloud: options.cloud,
        taskId: options.taskId,
        id,
        name,
        agentId,
        ownerId: await store.ownerId(),
        profile,
        user: record.user,
        workdir: record.workdir,
        createdAt: now,
        signal,
      });
      record = { ...mergeRecord(record, made), state: 'creating' };
      await store.writeRecord(record);
      await events.emit({ type: 'sandbox.created', sandboxId: id, name, agentId, provider: kind, providerRef: made.providerRef, image: profile.image });
      if (made.state !== 'running')
        throw new SandboxError('provider-error', `The sandbox ${name} did not keep running after its start; check the image ${profile.image}.`);
      if (options.push) {
        throwIfAborted(signal, 'Creating the sandbox');
        onProgress?.({ step: 'push', message: `Copying ${options.push.localRoot}` });
        await this.deps.push(record, { ...options.push, signal });
      }
      throwIfAborted(signal, 'Creating the sandbox');
      record = { ...record, state: 'running', creator: undefined, updatedAt: new Date().toISOString() };
      await store.writeRecord(record);
      await this.deps.sshConfig.refresh();
      onProgress?.({ step: 'ready', message: `${name} is running` });
      return record;
    } catch (error) {
      // A machine that exited as it started explains the failure better than the step that met it.
      const why = record.providerRef && !isSandboxError(error, 'cancelled') ? await startFailure(provider, record.providerRef, name, profile.image) : undefined;
      const cleanup = await this.destroy(record, undefined, false).then(
        () => undefined,
        (problem: unknown) => problem ?? new Error('the cleanup failed'),
      );
      if (cleanup !== undefined) throw await keepFailedCreate(store, record, why ?? error, cleanup);
      throw why ?? error;
    }
  }

  /** Runs the image build of `sandbox image build`. */
  buildImage(options: BuildImageOptions = {}): Promise<EnsureImageResult> {
    return this.deps.providers.buildImage(
      {
        force: options.force,
        desktop: options.desktop,
        os: options.os,
        region: options.region,
        signal: options.signal,
        onProgress: (p) => options.onProgress?.({ step: 'image', ...p }),
      },
      options.provider,
    );
  }

  /** start_vm */
  start(ref: string, signal?: AbortSignal): Promise<SandboxRecord> {
    return this.transition(ref, 'started', (provider, providerRef) => provider.start(providerRef, signal));
  }

  /** stop_vm */
  stop(ref: string, signal?: AbortSignal): Promise<SandboxRecord> {
    return this.transition(ref, 'stopped', (provider, providerRef) => provider.stop(providerRef, signal));
  }

  /** Snapshot, then destroy: a cloud sandbox that costs nothing until `start` makes it again. */
  hibernate(ref: string, signal?: AbortSignal): Promise<SandboxRecord> {
    return this.transition(ref, 'stopped', (provider, providerRef, record) => {
      if (!provider.hibernate) {
        throw new SandboxError('wrong-state', `${record.name} runs on ${record.provider}, which cannot hibernate; use \`sandbox stop ${record.name}\`.`);
      }
      return provider.hibernate(providerRef, signal);
    });
  }

  private async transition(
    ref: string,
    action: 'started' | 'stopped',
    change: (provider: Provider, providerRef: string, record: SandboxRecord) => Promise<ProviderSandbox>,
  ): Promise<SandboxRecord> {
    const record = await this.deps.resolve(ref);
    if (!record.providerRef || record.state === 'lost' || isInterrupted(record)) throw brokenError(record);
    if (action === 'stopped') this.disconnect(record.id);
    const updated = mergeRecord(record, await change(this.deps.providers.get(record.provider), record.providerRef, record));
    await this.deps.store.writeRecord(updated);
    const told = { sandboxId: record.id, name: record.name };
    await this.deps.events.emit(action === 'started' ? { type: 'sandbox.started', ...told } : { type: 'sandbox.stopped', ...told });
    await this.deps.sshConfig.refresh();
    return updated;
  }

  /** delete_vm: removes the machine and everything we keep about it. */
  async delete(ref: string, signal?: AbortSignal): Promise<SandboxRecord> {
    const record = await this.deps.resolve(ref);
    await this.destroy(record, signal);
    return record;
  }

  /** Removes sandboxes left broken by an interrupted create, and records whose machine is gone. */
  async prune(signal?: AbortSignal): Promise<SandboxRecord[]> {
    const broken = (await this.deps.list()).filter((record) => record.state === 'lost' || isInterrupted(record));
    for (const record of broken) await this.destroy(record, signal);
    return broken;
  }

  /** `announce`: a create's own cleanup is told as its failure, not as a delete. */
  private async destroy(record: SandboxRecord, signal?: AbortSignal, announce = true): Promise<void> {
    const { store } = this.deps;
    const provider = this.deps.providers.get(record.provider);
    const refs = new Set<string>();
    if (record.providerRef) refs.add(record.providerRef);
    // An interrupted create may have made a machine before it could note the reference; a
    // sandbox that ran has it noted, and a cloud listing costs calls against a rate limit.
    if (!record.providerRef || record.state === 'creating' || isInterrupted(record)) {
      // Strict: a listing that failed must not read as "nothing was made", or the record would go while its machine stays.
      for (const sandbox of await provider.list(await store.ownerId(), { strict: true })) {
        if (sandbox.id === record.id) refs.add(sandbox.providerRef);
      }
    }
    this.disconnect(record.id);
    for (const providerRef of refs) await provider.remove(providerRef, signal);
    await this.deps.forgetExecs(record.id);
    await store.deleteRecord(record.id);
    await this.deps.sshConfig.refresh();
    if (announce) await this.deps.events.emit({ type: 'sandbox.deleted', sandboxId: record.id, name: record.name, provider: record.provider });
  }

  /** Closes this process's forwards and SSH connection to a sandbox that stops or goes. */
  private disconnect(sandboxId: string): void {
    this.deps.forwards.close(sandboxId);
    this.deps.connections.close(sandboxId);
  }
}

async function assertDirectory(localRoot: string): Promise<void> {
  const info = await stat(localRoot).catch(() => undefined);
  if (!info?.isDirectory()) throw new SandboxError('invalid-input', `The folder ${localRoot} does not exist; give a folder to copy into the sandbox.`);
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
