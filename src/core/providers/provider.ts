import type { ExecRequest, ExecResult, Profile, ProviderKind, SandboxState, SshEndpoint } from '../model';

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
  signal?: AbortSignal;
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
}

export interface LogLine {
  time: string;
  stream: 'stdout' | 'stderr';
  text: string;
}

export interface LogOptions {
  follow?: boolean;
  tail?: number;
  signal?: AbortSignal;
}

/** One kind of machine maker: a Docker engine, a cloud, an SSH host. */
export interface Provider {
  readonly kind: ProviderKind;
  /** Resolves when the provider answers; throws SandboxError('engine-unavailable') otherwise. */
  ping(signal?: AbortSignal): Promise<void>;
  create(spec: CreateSpec): Promise<ProviderSandbox>;
  start(ref: string, signal?: AbortSignal): Promise<ProviderSandbox>;
  stop(ref: string, signal?: AbortSignal): Promise<ProviderSandbox>;
  /** Removes the machine and everything made for it; succeeds when it is already gone. */
  remove(ref: string, signal?: AbortSignal): Promise<void>;
  /** Every machine carrying this owner's labels. */
  list(ownerId: string): Promise<ProviderSandbox[]>;
  inspect(ref: string): Promise<ProviderSandbox | undefined>;
  exec(ref: string, request: ExecRequest): Promise<ExecResult>;
  logs(ref: string, options: LogOptions): AsyncIterable<LogLine>;
  /**
   * Over a channel trusted without SSH (the engine's API): the host key the machine's sshd
   * presents, and adding a client key to the agent user's authorized keys. For machines whose
   * pinned key was lost locally, or made before keys were pinned.
   */
  readHostKey?(ref: string): Promise<string | undefined>;
  authorizeKey?(ref: string, publicKey: string): Promise<void>;
}
