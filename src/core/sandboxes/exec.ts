import * as path from 'node:path';
import { SandboxError, isSandboxError } from '../errors';
import type { SandboxConnections } from '../connections/sandboxConnections';
import { ExecIdentityCheck } from '../exec/identity';
import { OOM_COUNT_READ, outOfMemory } from '../exec/memory';
import { ExecOwnerRegistry, newExecId } from '../exec/owners';
import { sshTerminalCommand, type TtySession, type TtySize } from '../exec/terminal';
import type { ExecRequest, ExecResult, SandboxRecord } from '../model';
import { isCloudMachine } from '../providers/kinds';
import { providerKindEntry, type ProviderSet } from '../providers/registry';
import { assertUsable, brokenError } from '../sandboxState';
import { EXEC_MARKER_ENV } from '../transport/dockerExec';
import { killProcessesWithEnv, sshExec } from '../transport/sshExec';
import { openSshTtySession } from '../transport/sshTty';
import type { EventBus } from '../events/bus';
import type { ExecChannel } from '../events/types';
import { execEndedEvent, execStartedEvent } from './execEvent';
import { markMissing } from './records';

export interface SandboxExecDeps {
  stateRoot: string;
  providers: ProviderSet;
  events: EventBus;
  connections: SandboxConnections;
  resolve(ref: string): Promise<SandboxRecord>;
  /**
   * How commands reach a sandbox. 'auto': the provider's own channel where it has a fast one
   * (the Docker engine), SSH elsewhere. 'ssh': always the sandbox's SSH connection.
   */
  channel: 'auto' | 'ssh';
}

/** Commands in sandboxes: the channel they take, who they run as, who owns them, and their journal. */
export class SandboxExec {
  private readonly identities: ExecIdentityCheck;
  private readonly owners: ExecOwnerRegistry;
  /** When each sandbox was last looked at for commands whose owner is gone. */
  private readonly orphanLooks = new Map<string, number>();

  constructor(private readonly deps: SandboxExecDeps) {
    this.identities = new ExecIdentityCheck(path.join(deps.stateRoot, 'identities'));
    this.owners = new ExecOwnerRegistry(path.join(deps.stateRoot, 'execs'));
  }

  /** execute_in_vm: runs a command; a non-zero exit is a result, not an error. */
  async exec(ref: string, request: ExecRequest): Promise<ExecResult> {
    return this.execIn(await this.deps.resolve(ref), request);
  }

  /** exec for the product's own looks into a sandbox (what runs there): not journalled as the agent's work. */
  async inspectExec(ref: string, request: ExecRequest): Promise<ExecResult> {
    return this.execIn(await this.deps.resolve(ref), request, false);
  }

  /**
   * `internal` is for the controller's own steps: a create pushes into a sandbox that is still
   * `creating` and runs as the sandbox user whatever the profile says about root.
   */
  async execIn(record: SandboxRecord, request: ExecRequest, journal = true, internal = false): Promise<ExecResult> {
    assertUsable(record, internal);
    const user = request.user ?? record.user;
    if (!internal) await this.assertUserAllowed(record, user);
    const full: ExecRequest = {
      ...request,
      user,
      cwd: request.cwd === undefined ? record.workdir : path.posix.resolve(record.workdir, request.cwd),
      execId: newExecId(),
    };
    await this.killOrphanedExecs([record], true);
    const channel = this.channelOf(record, full);
    if (journal) await this.deps.events.emit(execStartedEvent(record.id, full, request, channel));
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
      if (journal) await this.deps.events.emit(execEndedEvent(record.id, full, request, channel, undefined, error));
      if (wrongState) {
        throw new SandboxError('wrong-state', `${record.name} is not running; start it with \`sandbox start ${record.name}\`.`, { cause: error });
      }
      if (isSandboxError(error, 'not-found')) throw brokenError(markMissing(record));
      throw error;
    } finally {
      void release?.().catch(() => undefined);
    }
    if (journal) await this.deps.events.emit(execEndedEvent(record.id, full, request, channel, result));
    return result;
  }

  /**
   * An interactive login shell with a TTY in the sandbox, as its user in its workspace: over the
   * provider's own channel where it has one (the local Docker engine), otherwise a PTY over the
   * sandbox's SSH connection (SSH hosts: a folder's terminal lands under its marker and limits).
   */
  async openTerminal(ref: string, options: { size?: TtySize } = {}): Promise<TtySession> {
    const record = await this.deps.resolve(ref);
    assertUsable(record, false);
    // The terminal's user is held to the same rule as every command on a sandbox without sudo.
    await this.assertUserAllowed(record, record.user);
    const provider = this.deps.providers.get(record.provider);
    if (provider.openTerminal && this.deps.channel !== 'ssh') {
      return provider.openTerminal(record.providerRef!, { user: record.user, cwd: record.workdir, size: options.size });
    }
    return openSshTtySession(await this.deps.connections.session(record), sshTerminalCommand(record), options);
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
      throw new SandboxError(
        'invalid-input',
        `The sandbox ${record.name} was made without sudo, so its commands run only as ${loginUser} over SSH; leave out the user "${user}".`,
      );
    }
    const directory = record.placement?.kind === 'directory';
    await this.identities.assertAllowed(record, user, ssh ? 'ssh' : 'engine', {
      probe: (request) => this.transport(record, request),
      // A host's own account has no root for us to read with; its sudo was checked when it was added.
      // A cloud machine is reached only over SSH as its user, whose sudo we never gave.
      asRoot:
        directory || isCloudMachine(record.provider) ? undefined : (request) => this.deps.providers.get(record.provider).exec(record.providerRef!, request),
    });
  }

  /**
   * Kills commands in these sandboxes whose owning process is gone (a CLI killed with SIGKILL).
   * `throttled`: on the path of every exec, a sandbox is looked at once a second at most.
   */
  async killOrphanedExecs(records: SandboxRecord[], throttled = false): Promise<void> {
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
          if (this.usesSsh(record)) await killProcessesWithEnv(await this.deps.connections.session(record), `${EXEC_MARKER_ENV}=${orphan.execId}`);
          else await this.deps.providers.get(record.provider).killExec?.(record.providerRef, orphan.execId, orphan.user);
        }
        await this.owners.remove(orphan.sandboxId, orphan.execId);
      } catch {
        // The sandbox does not answer now: the next call tries again.
      }
    }
  }

  /** Forgets what was noted about a removed sandbox's commands and users. */
  async forget(sandboxId: string): Promise<void> {
    await this.identities.forget(sandboxId);
    await this.owners.forget(sandboxId);
  }

  /** The command on the sandbox's channel: SSH, or the provider's own. */
  private async transport(record: SandboxRecord, request: ExecRequest): Promise<ExecResult> {
    const run = record.ssh?.run;
    return this.usesSsh(record)
      ? sshExec(await this.deps.connections.session(record), request, {
          loginUser: record.ssh?.user ?? record.user,
          cwd: record.workdir,
          env: run?.env,
          prefix: run?.prefix,
        })
      : this.deps.providers.get(record.provider).exec(record.providerRef!, request);
  }

  /**
   * Whether commands for this sandbox go over SSH rather than the provider's own channel: the
   * fastest healthy one. On Docker that is the exec agent (about 6 ms), then SSH (about 20 ms)
   * where the image has no agent, then a plain engine exec (about 100 ms).
   */
  private usesSsh(record: SandboxRecord): boolean {
    const kind = providerKindEntry(record.provider);
    if (this.deps.channel === 'ssh' || !kind?.ownExecChannel) return true;
    const provider = this.deps.providers.find(record.provider);
    return record.ssh !== undefined && provider !== undefined && (kind.lacksFastChannel?.(provider, record.providerRef!) ?? false);
  }

  /** The channel this command takes, as events tell it. */
  private channelOf(record: SandboxRecord, request: ExecRequest): ExecChannel {
    if (this.usesSsh(record)) return 'ssh';
    return this.diesWithOwner(record, request) ? 'agent' : 'provider';
  }

  /** Whether this command runs in the exec agent, which ends (killing it) when this process does. */
  private diesWithOwner(record: SandboxRecord, request: ExecRequest): boolean {
    if (this.usesSsh(record)) return false;
    const provider = this.deps.providers.find(record.provider);
    return provider !== undefined && (providerKindEntry(record.provider)?.runsInAgent?.(provider, record.providerRef!, request) ?? false);
  }
}
