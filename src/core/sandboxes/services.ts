import { PortForwards } from '../connections/portForwards';
import { SandboxConnections } from '../connections/sandboxConnections';
import { SshConfigWriter } from '../connections/sshConfigWriter';
import type { ExecRequest, ProviderKind, SandboxRecord } from '../model';
import type { Provider } from '../providers/provider';
import { ProviderSet } from '../providers/registry';
import type { SshSessionOptions } from '../ssh/session';
import { StateStore } from '../store/stateStore';
import { EventBus, type Unsubscribe } from '../events/bus';
import { EventLog, type EventLogOptions } from '../events/eventLog';
import { subscribeJournal } from '../events/journalSubscriber';
import { SandboxCatalog } from './catalog';
import { SandboxExec } from './exec';
import { FileSync } from './fileSync';
import { SandboxLifecycle } from './lifecycle';
import { SandboxSnapshots } from './snapshots';

export interface ControllerOptions {
  store?: StateStore;
  providers?: Partial<Record<ProviderKind, Provider>>;
  /**
   * How commands reach a sandbox. 'auto': the provider's own channel where it has a fast one
   * (the Docker engine), SSH elsewhere. 'ssh': always the sandbox's SSH connection.
   */
  execChannel?: 'auto' | 'ssh';
  /**
   * This process runs one command and ends (the CLI): providers open no channel meant to be
   * reused (the Docker engine's exec agent), which would cost more than it saves.
   */
  oneShot?: boolean;
  ssh?: SshSessionOptions;
  /**
   * The bus the services tell what happens to sandboxes on; a new one by default. Pass one to
   * subscribe before the controller exists. Each controller adds the sandbox's journal (required)
   * and the state dir's events.jsonl to it, and takes them off on dispose.
   */
  events?: EventBus;
  /** Size bound and follow poll of the state dir's events.jsonl. */
  eventLog?: EventLogOptions;
}

/** The services behind a `SandboxController`, one per concern, sharing one store, provider set and event sink. */
export interface SandboxServices {
  store: StateStore;
  providers: ProviderSet;
  events: EventBus;
  eventLog: EventLog;
  /** The journal's and the event log's subscriptions to the bus. */
  subscriptions: Unsubscribe[];
  sshConfig: SshConfigWriter;
  catalog: SandboxCatalog;
  connections: SandboxConnections;
  forwards: PortForwards;
  exec: SandboxExec;
  files: FileSync;
  lifecycle: SandboxLifecycle;
  snapshots: SandboxSnapshots;
}

/** Makes the services and wires each to the others it needs. */
export function makeServices(options: ControllerOptions = {}): SandboxServices {
  const store = options.store ?? new StateStore();
  const providers = new ProviderSet(options.providers, store.root, { oneShot: options.oneShot ?? false });
  const events = options.events ?? new EventBus();
  const eventLog = new EventLog(store.root, options.eventLog);
  const subscriptions = [subscribeJournal(events, store), eventLog.subscribe(events)];
  const sshConfig = new SshConfigWriter(store);
  // Listing kills commands whose owner is gone, and the exec service finds sandboxes through the listing.
  const catalog: SandboxCatalog = new SandboxCatalog({ store, providers, events, sshConfig, onListed: (records) => exec.killOrphanedExecs(records) });
  const resolve = (ref: string) => catalog.resolve(ref);
  const status = (ref: string) => catalog.status(ref);
  const provider = (kind: ProviderKind) => providers.get(kind);
  const connections = new SandboxConnections({ store, provider, resolve, status, sshConfig, ssh: options.ssh ?? {} });
  const forwards = new PortForwards({ resolve, session: (record) => connections.session(record) });
  const exec = new SandboxExec({ stateRoot: store.root, providers, events, connections, resolve, channel: options.execChannel ?? 'auto' });
  // Sync's commands are not journalled one by one: the push or pull is.
  const execIn = (record: SandboxRecord, request: ExecRequest, internal: boolean) => exec.execIn(record, request, false, internal);
  const files = new FileSync({ store, events, resolve, execIn });
  const lifecycle = new SandboxLifecycle({
    store,
    providers,
    events,
    connections,
    forwards,
    sshConfig,
    resolve,
    list: () => catalog.list(),
    push: (record, push) => files.pushTo(record, push, true),
    forgetExecs: (sandboxId) => exec.forget(sandboxId),
  });
  const snapshots = new SandboxSnapshots({ store, providers, events, resolve, create: (create) => lifecycle.create(create) });
  return { store, providers, events, eventLog, subscriptions, sshConfig, catalog, connections, forwards, exec, files, lifecycle, snapshots };
}
