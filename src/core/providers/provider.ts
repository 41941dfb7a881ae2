import type { TtySession, TtySessionOptions } from '../transport/dockerTty';
import type { CloudCreateOptions, CloudPlacement, ExecRequest, ExecResult, Placement, Profile, ProviderKind, SandboxState, SshEndpoint } from '../model';

/** What a provider is asked to make. */
export interface CreateSpec {
  id: string;
  name: string;
  agentId: string;
  ownerId: string;
  profile: Profile;
  user: string;
  workdir: string;
  createdAt: string;
  /** Keys placed in the machine before its sshd first starts. */
  ssh: { hostPrivateKey: string; hostPublicKey: string; authorizedKey: string };
  /** For providers that place sandboxes on a named machine (the ssh provider): which one. */
  host?: string;
  /**
   * The snapshot the machine is made from (its image is `profile.image`). The snapshot holds the
   * origin's logins: the provider clears the user's authorized keys before the sshd first starts.
   */
  fromSnapshot?: string;
  /** For cloud providers: the choices of `CreateOptions.cloud`, and the task the sandbox is for. */
  cloud?: CloudCreateOptions;
  taskId?: string;
  signal?: AbortSignal;
}

/** What a provider is asked to keep of a machine: its name, and a note for people. */
export interface SnapshotRequest {
  name: string;
  note?: string;
  /** Freeze the machine while its filesystem is copied (the default), so the copy is consistent. */
  pause?: boolean;
  signal?: AbortSignal;
}

/** A kept copy of a machine's filesystem that new sandboxes can start from. */
export interface SnapshotInfo {
  name: string;
  provider: ProviderKind;
  /** The provider's handle for it, for `removeSnapshot`. */
  providerRef: string;
  /** What sandboxes made from it run as `profile.image` (on a Docker engine, the image's tag). */
  image: string;
  /** For providers that place sandboxes on a named machine: the machine it is kept on, where its sandboxes go. */
  host?: string;
  /** The sandbox it was taken of. */
  origin: { id: string; name: string };
  /** The origin's profile, which sandboxes made from it get unless told otherwise. */
  profile: Profile;
  user: string;
  workdir: string;
  createdAt: string;
  note?: string;
  sizeBytes?: number;
}

/** What a provider is asked before a create, for the checks a Docker engine gets in the controller. */
export interface CreateRequest {
  /** The id the sandbox will have. */
  id: string;
  host?: string;
  /** The profile with defaults filled in, and what the caller asked for itself. */
  profile: Profile;
  requested: Partial<Profile>;
  buildImageIfMissing?: boolean;
  cloud?: CloudCreateOptions;
  agentId?: string;
  taskId?: string;
  signal?: AbortSignal;
  onProgress?: (progress: { message: string; fraction?: number }) => void;
}

/** The checked profile, and how the machine differs from a local container. */
export interface CreatePlan {
  profile: Profile;
  /** The sandbox's user and working directory, when not those of our image. */
  user?: string;
  workdir?: string;
  /** Whether the machine runs its own sshd and needs the per-sandbox host and client keys. */
  sandboxKeys: boolean;
}

/** A machine as its provider sees it; enough to rebuild a record from it (the provider is the truth). */
export interface ProviderSandbox {
  id: string;
  name: string;
  agentId: string;
  profile: Profile;
  user: string;
  workdir: string;
  createdAt: string;
  providerRef: string;
  state: SandboxState;
  problem?: string;
  startedAt?: string;
  stoppedAt?: string;
  ports: Record<string, number>;
  ssh?: SshEndpoint;
  placement?: Placement;
  limits?: string;
  cloud?: CloudPlacement;
}

export interface LogLine {
  time: string;
  stream: 'stdout' | 'stderr';
  text: string;
}

export interface LogOptions {
  follow?: boolean;
  tail?: number;
  /** Only lines at or after this time: seconds since the epoch with up to nine decimals (`1765000000.123456789`). Providers without timestamps ignore it. */
  since?: string;
  signal?: AbortSignal;
}

export interface ListOptions {
  /**
   * A listing that could not be read whole throws instead of answering with what it could (a
   * cloud API down would otherwise read as no machines): for a cleanup that removes what it lists.
   */
  strict?: boolean;
}

/** One kind of machine maker: a Docker engine, a cloud, an SSH host. */
export interface Provider {
  readonly kind: ProviderKind;
  /** Resolves when the provider answers; throws SandboxError('engine-unavailable') otherwise. */
  ping(signal?: AbortSignal): Promise<void>;
  create(spec: CreateSpec): Promise<ProviderSandbox>;
  start(ref: string, signal?: AbortSignal): Promise<ProviderSandbox>;
  stop(ref: string, signal?: AbortSignal): Promise<ProviderSandbox>;
  /**
   * Cloud machines, billed even when powered off: keeps the disk as a snapshot and destroys the
   * machine, which stops its cost; `start` makes it again from that snapshot with the same host
   * key. The result is `stopped`, with the handle `start` takes.
   */
  hibernate?(ref: string, signal?: AbortSignal): Promise<ProviderSandbox>;
  /** Whether `stop` leaves a machine that still costs money (a powered-off droplet): front ends say so and offer `hibernate`. */
  readonly stopKeepsBilling?: boolean;
  /** Removes the machine and everything made for it; succeeds when it is already gone. */
  remove(ref: string, signal?: AbortSignal): Promise<void>;
  /** Every machine carrying this owner's labels. */
  list(ownerId: string, options?: ListOptions): Promise<ProviderSandbox[]>;
  inspect(ref: string): Promise<ProviderSandbox | undefined>;
  exec(ref: string, request: ExecRequest): Promise<ExecResult>;
  logs(ref: string, options: LogOptions): AsyncIterable<LogLine>;
  /**
   * An interactive process with a TTY over the provider's own channel (the Docker engine's exec).
   * Providers without one get a PTY over the sandbox's SSH connection from the controller.
   */
  openTerminal?(ref: string, options: TtySessionOptions): Promise<TtySession>;
  /**
   * Calls `onChange` whenever the machine behind `ref` may have changed state (the engine's
   * events), until the signal aborts. Providers without it are looked at every few seconds.
   */
  watch?(ref: string, onChange: () => void, signal: AbortSignal): void;
  /**
   * Over a channel trusted without SSH (the engine's API): the host key the machine's sshd
   * presents, and adding a client key to the agent user's authorized keys. For machines whose
   * pinned key was lost locally, or made before keys were pinned.
   */
  /** Kills what a command still runs, by its marker value (SANDBOX_EXEC_ID), as its user and as root. */
  killExec?(ref: string, execId: string, user: string): Promise<void>;
  readHostKey?(ref: string): Promise<string | undefined>;
  authorizeKey?(ref: string, publicKey: string): Promise<void>;
  /** Checks a create before anything is made; providers without it get the controller's Docker checks. */
  prepareCreate?(request: CreateRequest): Promise<CreatePlan>;
  /**
   * After `list`: why the machine behind `ref` could not be looked at (its host did not answer),
   * so a record missing from the listing is not taken for gone.
   */
  unreachable?(ref: string): string | undefined;
  /**
   * Snapshots: a copy of the machine behind `ref` that `create` can start from (the copy's handle
   * goes in as `profile.image`, with `fromSnapshot` set). Providers without them cannot snapshot.
   * A name taken already is a 'conflict' error.
   */
  snapshot?(ref: string, request: SnapshotRequest): Promise<SnapshotInfo>;
  /** Every snapshot carrying this owner's labels. */
  listSnapshots?(ownerId: string): Promise<SnapshotInfo[]>;
  /** Removes a snapshot by its `providerRef`; succeeds when it is already gone. */
  removeSnapshot?(providerRef: string): Promise<void>;
  /** Closes connections the provider keeps. */
  dispose?(): void;
}
