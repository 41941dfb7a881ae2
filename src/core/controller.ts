import type { PortForward } from './ssh/forward';
import { PortForwards } from './connections/portForwards';
import { SandboxConnections, type SshLoginTarget } from './connections/sandboxConnections';
import { SshConfigWriter } from './connections/sshConfigWriter';
import type { TtySession, TtySize } from './exec/terminal';
import type { EnsureImageResult } from './images';
import type { ExecRequest, ExecResult, ProviderKind, SandboxRecord, SshEndpoint } from './model';
import type { DockerProvider } from './providers/docker';
import type { Provider } from './providers/provider';
import { ProviderSet } from './providers/registry';
import type { SshHostProvider } from './providers/sshHost';
import { SandboxCatalog } from './sandboxes/catalog';
import { journalEvents, type SandboxEvents } from './sandboxes/events';
import { SandboxExec } from './sandboxes/exec';
import { FileSync } from './sandboxes/fileSync';
import { SandboxLifecycle } from './sandboxes/lifecycle';
import { sandboxLogs } from './sandboxes/logs';
import type {
  BuildImageOptions,
  CreateOptions,
  LogEntry,
  PullOptions,
  PushOptions,
  ReconcileReport,
  SandboxLogOptions,
  SyncSummary,
} from './sandboxes/types';
import type { SshSession, SshSessionOptions } from './ssh/session';
import { StateStore } from './store/stateStore';

export { AGENT_UID, AGENT_USER, AGENT_WORKDIR } from './sandboxes/types';
export type { CreateOptions, LogEntry, Progress, PullOptions, PushOptions, ReconcileReport, SyncSummary } from './sandboxes/types';
export { isInterrupted } from './sandboxState';

export interface ControllerOptions {
  store?: StateStore;
  providers?: Partial<Record<ProviderKind, Provider>>;
  /**
   * How commands reach a sandbox. 'auto': the provider's own channel where it has a fast one
   * (the Docker engine), SSH elsewhere. 'ssh': always the sandbox's SSH connection.
   */
  execChannel?: 'auto' | 'ssh';
  ssh?: SshSessionOptions;
  /** Where what happens to sandboxes is told; by default each sandbox's journal. */
  events?: SandboxEvents;
}

/**
 * The one API over every provider: create, start, stop, delete, list, status, exec, sync, logs.
 * Records in the state dir are a cache; each listing reconciles them with what providers report.
 * The work is done by one service per concern (src/core/sandboxes, src/core/connections).
 */
export class SandboxController {
  readonly store: StateStore;
  private readonly providers: ProviderSet;
  private readonly catalog: SandboxCatalog;
  private readonly connections: SandboxConnections;
  private readonly portForwards: PortForwards;
  private readonly sshConfig: SshConfigWriter;
  private readonly commands: SandboxExec;
  private readonly files: FileSync;
  private readonly lifecycle: SandboxLifecycle;

  constructor(options: ControllerOptions = {}) {
    const store = (this.store = options.store ?? new StateStore());
    const providers = (this.providers = new ProviderSet(options.providers, store.root));
    const events = options.events ?? journalEvents(store);
    const sshConfig = (this.sshConfig = new SshConfigWriter(store));
    const resolve = (ref: string) => this.catalog.resolve(ref);
    this.catalog = new SandboxCatalog({ store, providers, events, sshConfig, onListed: (records) => this.commands.killOrphanedExecs(records) });
    const status = (ref: string) => this.catalog.status(ref);
    const connections = (this.connections = new SandboxConnections({ store, provider: (kind) => providers.get(kind), resolve, status, sshConfig, ssh: options.ssh ?? {} }));
    const forwards = (this.portForwards = new PortForwards({ resolve, session: (record) => connections.session(record) }));
    const commands = (this.commands = new SandboxExec({ stateRoot: store.root, providers, events, connections, resolve, channel: options.execChannel ?? 'auto' }));
    const files = (this.files = new FileSync({ store, events, resolve, execIn: (record, request, internal) => commands.execIn(record, request, false, internal) }));
    this.lifecycle = new SandboxLifecycle({
      store,
      providers,
      events,
      connections,
      forwards,
      sshConfig,
      resolve,
      list: () => this.list(),
      push: (record, push) => files.pushTo(record, push, true),
      forgetExecs: (sandboxId) => commands.forget(sandboxId),
    });
  }

  /** Closes SSH connections and forwarded ports of this process. */
  dispose(): void {
    this.portForwards.close();
    this.connections.dispose();
    this.providers.dispose();
  }

  provider(kind: ProviderKind): Provider {
    return this.providers.get(kind);
  }

  get docker(): DockerProvider {
    return this.providers.docker;
  }

  /** The provider of machines the user brought (`sandbox host add`). */
  get sshHosts(): SshHostProvider {
    return this.providers.sshHosts;
  }

  // ---- lifecycle: src/core/sandboxes/lifecycle.ts ---------------------------------------------

  /** create_vm(agent_id, config): makes a sandbox, starts it, and pushes a folder into it if asked. */
  create(options: CreateOptions = {}): Promise<SandboxRecord> {
    return this.lifecycle.create(options);
  }

  /** Runs the image build of `sandbox image build`. */
  buildImage(options: BuildImageOptions = {}): Promise<EnsureImageResult> {
    return this.lifecycle.buildImage(options);
  }

  /** start_vm */
  start(ref: string, signal?: AbortSignal): Promise<SandboxRecord> {
    return this.lifecycle.start(ref, signal);
  }

  /** stop_vm */
  stop(ref: string, signal?: AbortSignal): Promise<SandboxRecord> {
    return this.lifecycle.stop(ref, signal);
  }

  /** delete_vm: removes the machine and everything we keep about it. */
  delete(ref: string, signal?: AbortSignal): Promise<SandboxRecord> {
    return this.lifecycle.delete(ref, signal);
  }

  /** Removes sandboxes left broken by an interrupted create, and records whose machine is gone. */
  prune(signal?: AbortSignal): Promise<SandboxRecord[]> {
    return this.lifecycle.prune(signal);
  }

  // ---- listing: src/core/sandboxes/catalog.ts ---------------------------------------------------

  /** list_vms: every sandbox of this state dir, reconciled with the providers. */
  list(): Promise<SandboxRecord[]> {
    return this.catalog.list();
  }

  /** get_vm_status */
  status(ref: string): Promise<SandboxRecord> {
    return this.catalog.status(ref);
  }

  reconcile(): Promise<ReconcileReport & { records: SandboxRecord[] }> {
    return this.catalog.reconcile();
  }

  /** Finds a sandbox by id, name, or a unique prefix of either. */
  resolve(ref: string): Promise<SandboxRecord> {
    return this.catalog.resolve(ref);
  }

  // ---- exec: src/core/sandboxes/exec.ts -----------------------------------------------------------

  /** execute_in_vm: runs a command; a non-zero exit is a result, not an error. */
  exec(ref: string, request: ExecRequest): Promise<ExecResult> {
    return this.commands.exec(ref, request);
  }

  /** exec for the product's own looks into a sandbox (what runs there): not journalled as the agent's work. */
  inspectExec(ref: string, request: ExecRequest): Promise<ExecResult> {
    return this.commands.inspectExec(ref, request);
  }

  /** An interactive login shell with a TTY in the sandbox, as its user in its workspace. */
  openTerminal(ref: string, options: { size?: TtySize } = {}): Promise<TtySession> {
    return this.commands.openTerminal(ref, options);
  }

  /** On a sandbox made without sudo, refuses a user spec that gives root's or sudo's rights. */
  assertUserAllowed(record: SandboxRecord, user: string): Promise<void> {
    return this.commands.assertUserAllowed(record, user);
  }

  // ---- SSH: src/core/connections/ -----------------------------------------------------------------

  /** The persistent SSH connection of a sandbox; it follows the sandbox to a new port after a restart. */
  session(ref: string | SandboxRecord): Promise<SshSession> {
    return this.connections.session(ref);
  }

  /** Where a sandbox's sshd answers and the key it must present. */
  sshEndpoint(record: SandboxRecord): Promise<SshEndpoint> {
    return this.connections.sshEndpoint(record);
  }

  /** What `ssh` needs to log in: our config file and the sandbox's Host alias in it. */
  sshTarget(ref: string): Promise<SshLoginTarget> {
    return this.connections.sshTarget(ref);
  }

  /** Rewrites our SSH config and known_hosts when the set of reachable sandboxes (or a port) changed. */
  refreshSshConfig(records?: SandboxRecord[]): Promise<string> {
    return this.sshConfig.refresh(records);
  }

  /** Opens 127.0.0.1:<localPort> here, carried over SSH to 127.0.0.1:<remotePort> in the sandbox. */
  forward(ref: string, remotePort: number, options: { localPort?: number } = {}): Promise<PortForward> {
    return this.portForwards.forward(ref, remotePort, options);
  }

  /** Forwarded ports of this process, of one sandbox or all. */
  forwards(sandboxId?: string): PortForward[] {
    return this.portForwards.list(sandboxId);
  }

  // ---- sync and logs: src/core/sandboxes/fileSync.ts, logs.ts -------------------------------------

  /** sync_files, local to sandbox. */
  push(ref: string, options: PushOptions): Promise<SyncSummary> {
    return this.files.push(ref, options);
  }

  /** sync_files, sandbox to local: the sandbox is treated as hostile. */
  pull(ref: string, options: PullOptions): Promise<SyncSummary> {
    return this.files.pull(ref, options);
  }

  /** get_logs: the sandbox's own output and its journal, in time order; `follow` keeps going until the signal aborts. */
  logs(ref: string, options: SandboxLogOptions = {}): AsyncGenerator<LogEntry> {
    return sandboxLogs({ providers: this.providers, lookout: this, resolve: (r) => this.catalog.resolve(r) }, ref, options);
  }
}
