import type { SshLoginTarget } from './connections/sandboxConnections';
import type { TtySession, TtySize } from './exec/terminal';
import type { EventBus } from './events/bus';
import type { EventLog } from './events/eventLog';
import type { EnsureImageResult } from './images';
import type { ExecRequest, ExecResult, ProviderKind, SandboxRecord, SshEndpoint } from './model';
import type { DockerProvider } from './providers/docker';
import type { Provider } from './providers/provider';
import type { ProviderImage } from './providers/registry';
import type { SshHostProvider } from './providers/sshHost';
import { sandboxLogs } from './sandboxes/logs';
import { makeServices, type ControllerOptions, type SandboxServices } from './sandboxes/services';
import type { ForkOptions, ForkResult, PruneSnapshotsOptions, PruneSnapshotsResult, SnapshotEntry, SnapshotInfo, SnapshotOptions } from './sandboxes/snapshots';
import type { BuildImageOptions, CreateOptions, LogEntry, PullOptions, PushOptions, ReconcileReport, SandboxLogOptions, SyncSummary } from './sandboxes/types';
import type { PortForward } from './ssh/forward';
import type { SshSession } from './ssh/session';
import type { StateStore } from './store/stateStore';
import type { Manifest } from './sync/manifest';

export { AGENT_UID, AGENT_USER, AGENT_WORKDIR } from './sandboxes/types';
export type { CreateOptions, LogEntry, Progress, PullOptions, PushOptions, ReconcileReport, SyncSummary } from './sandboxes/types';
export type { ControllerOptions } from './sandboxes/services';
export type { ForkOptions, ForkResult, PruneSnapshotsOptions, PruneSnapshotsResult, SnapshotEntry, SnapshotInfo, SnapshotOptions } from './sandboxes/snapshots';
export { isInterrupted } from './sandboxState';

/**
 * The one API over every provider: create, start, stop, delete, list, status, exec, sync, logs.
 * Records in the state dir are a cache; each listing reconciles them with what providers report.
 * Each concern is a service (src/core/sandboxes, src/core/connections); this class only hands on.
 */
export class SandboxController {
  readonly store: StateStore;
  /** What happens to sandboxes, as typed events, for anything in this process to hear. */
  readonly events: EventBus;
  /** The same events of every process, in the state dir's events.jsonl. */
  readonly eventLog: EventLog;
  private readonly services: SandboxServices;

  constructor(options: ControllerOptions = {}) {
    this.services = makeServices(options);
    this.store = this.services.store;
    this.events = this.services.events;
    this.eventLog = this.services.eventLog;
  }

  /** Closes SSH connections and forwarded ports of this process, and takes the journal and event log off the bus. */
  dispose(): void {
    for (const unsubscribe of this.services.subscriptions) unsubscribe();
    this.services.eventLog.flushQuietly();
    this.services.forwards.close();
    this.services.connections.dispose();
    this.services.providers.dispose();
  }

  provider(kind: ProviderKind): Provider {
    return this.services.providers.get(kind);
  }

  get docker(): DockerProvider {
    return this.services.providers.docker;
  }

  /** The provider of machines the user brought (`sandbox host add`). */
  get sshHosts(): SshHostProvider {
    return this.services.providers.sshHosts;
  }

  /** create_vm(agent_id, config): makes a sandbox (from a snapshot, if named), starts it, and pushes a folder into it if asked. */
  create(options: CreateOptions = {}): Promise<SandboxRecord> {
    const { fromSnapshot } = options;
    return fromSnapshot !== undefined ? this.services.snapshots.create({ ...options, fromSnapshot }) : this.services.lifecycle.create(options);
  }

  /** Keeps a copy of a sandbox's filesystem that new sandboxes can start from (`create({ fromSnapshot })`). */
  snapshot(ref: string, options: SnapshotOptions = {}): Promise<SnapshotInfo> {
    return this.services.snapshots.snapshot(ref, options);
  }

  /** Every snapshot of this state dir, oldest first, with the sandboxes made from each. */
  listSnapshots(): Promise<SnapshotEntry[]> {
    return this.services.snapshots.list();
  }

  /** Removes a snapshot no sandbox runs. */
  removeSnapshot(name: string): Promise<SnapshotEntry> {
    return this.services.snapshots.remove(name);
  }

  /** Removes old snapshots: all but the newest `keep`, and/or those older than `maxAgeDays`; those in use stay. */
  pruneSnapshots(options: PruneSnapshotsOptions): Promise<PruneSnapshotsResult> {
    return this.services.snapshots.prune(options);
  }

  /** Snapshots a sandbox once and makes `count` sandboxes from it, each with its own keys. */
  fork(ref: string, options: ForkOptions): Promise<ForkResult> {
    return this.services.snapshots.fork(ref, options);
  }

  /** Runs the image build of `sandbox image build`. */
  buildImage(options: BuildImageOptions = {}): Promise<EnsureImageResult> {
    return this.services.lifecycle.buildImage(options);
  }

  /** The images a provider keeps as its own snapshots (`sandbox image list --provider`). */
  listImages(provider: ProviderKind, signal?: AbortSignal): Promise<ProviderImage[]> {
    return this.services.providers.listImages(provider, signal);
  }

  /** Removes a provider's images built from an older recipe; returns what went. */
  pruneImages(provider: ProviderKind, signal?: AbortSignal): Promise<ProviderImage[]> {
    return this.services.providers.pruneImages(provider, signal);
  }

  /** start_vm */
  start(ref: string, signal?: AbortSignal): Promise<SandboxRecord> {
    return this.services.lifecycle.start(ref, signal);
  }

  /** stop_vm */
  stop(ref: string, signal?: AbortSignal): Promise<SandboxRecord> {
    return this.services.lifecycle.stop(ref, signal);
  }

  /** Cloud sandboxes: snapshot, then destroy, so it costs nothing until `start` (see Provider.hibernate). */
  hibernate(ref: string, signal?: AbortSignal): Promise<SandboxRecord> {
    return this.services.lifecycle.hibernate(ref, signal);
  }

  /** delete_vm: removes the machine and everything we keep about it. */
  delete(ref: string, signal?: AbortSignal): Promise<SandboxRecord> {
    return this.services.lifecycle.delete(ref, signal);
  }

  /** Removes sandboxes left broken by an interrupted create, and records whose machine is gone. */
  prune(signal?: AbortSignal): Promise<SandboxRecord[]> {
    return this.services.lifecycle.prune(signal);
  }

  /** list_vms: every sandbox of this state dir, reconciled with the providers. */
  list(): Promise<SandboxRecord[]> {
    return this.services.catalog.list();
  }

  /** get_vm_status */
  status(ref: string): Promise<SandboxRecord> {
    return this.services.catalog.status(ref);
  }

  reconcile(): Promise<ReconcileReport & { records: SandboxRecord[] }> {
    return this.services.catalog.reconcile();
  }

  /** Finds a sandbox by id, name, or a unique prefix of either. */
  resolve(ref: string): Promise<SandboxRecord> {
    return this.services.catalog.resolve(ref);
  }

  /** execute_in_vm: runs a command; a non-zero exit is a result, not an error. */
  exec(ref: string, request: ExecRequest): Promise<ExecResult> {
    return this.services.exec.exec(ref, request);
  }

  /** exec for the product's own looks into a sandbox (what runs there): not journalled as the agent's work. */
  inspectExec(ref: string, request: ExecRequest): Promise<ExecResult> {
    return this.services.exec.inspectExec(ref, request);
  }

  /** An interactive login shell with a TTY in the sandbox, as its user in its workspace. */
  openTerminal(ref: string, options: { size?: TtySize } = {}): Promise<TtySession> {
    return this.services.exec.openTerminal(ref, options);
  }

  /** On a sandbox made without sudo, refuses a user spec that gives root's or sudo's rights. */
  assertUserAllowed(record: SandboxRecord, user: string): Promise<void> {
    return this.services.exec.assertUserAllowed(record, user);
  }

  /** The persistent SSH connection of a sandbox; it follows the sandbox to a new port after a restart. */
  session(ref: string | SandboxRecord): Promise<SshSession> {
    return this.services.connections.session(ref);
  }

  /** Where a sandbox's sshd answers and the key it must present. */
  sshEndpoint(record: SandboxRecord): Promise<SshEndpoint> {
    return this.services.connections.sshEndpoint(record);
  }

  /** What `ssh` needs to log in: our config file and the sandbox's Host alias in it. */
  sshTarget(ref: string): Promise<SshLoginTarget> {
    return this.services.connections.sshTarget(ref);
  }

  /** Rewrites our SSH config and known_hosts when the set of reachable sandboxes (or a port) changed. */
  refreshSshConfig(records?: SandboxRecord[]): Promise<string> {
    return this.services.sshConfig.refresh(records);
  }

  /** Opens 127.0.0.1:<localPort> here, carried over SSH to 127.0.0.1:<remotePort> in the sandbox. */
  forward(ref: string, remotePort: number, options: { localPort?: number } = {}): Promise<PortForward> {
    return this.services.forwards.forward(ref, remotePort, options);
  }

  /** Forwarded ports of this process, of one sandbox or all. */
  forwards(sandboxId?: string): PortForward[] {
    return this.services.forwards.list(sandboxId);
  }

  /** sync_files, local to sandbox. */
  push(ref: string, options: PushOptions): Promise<SyncSummary> {
    return this.services.files.push(ref, options);
  }

  /** What the last push of `localRoot` into the sandbox left there (a snapshot's copies hold it too). */
  pushedManifest(ref: string, localRoot: string, remoteDir?: string): Promise<Manifest | undefined> {
    return this.services.files.pushedManifest(ref, localRoot, remoteDir);
  }

  /** sync_files, sandbox to local: the sandbox is treated as hostile. */
  pull(ref: string, options: PullOptions): Promise<SyncSummary> {
    return this.services.files.pull(ref, options);
  }

  /** get_logs: the sandbox's own output and its journal, in time order; `follow` keeps going until the signal aborts. */
  logs(ref: string, options: SandboxLogOptions = {}): AsyncGenerator<LogEntry> {
    const { providers, catalog } = this.services;
    return sandboxLogs({ providers, lookout: this, resolve: (r) => catalog.resolve(r) }, ref, options);
  }
}
