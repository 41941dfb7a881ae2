/** The data every part of the product shares: sandboxes, profiles, exec requests and results. */

export type ProviderKind = 'docker' | 'digitalocean' | 'ssh';

/**
 * creating: being made; running / stopped: as the provider reports;
 * error: the provider reports a failure, or a create was interrupted (see `problem`);
 * lost: we have a record but the provider no longer has the machine.
 */
export type SandboxState = 'creating' | 'running' | 'stopped' | 'error' | 'lost';

/** Size and image of a sandbox. */
export interface Profile {
  image: string;
  cpus: number;
  /** Bytes. */
  memory: number;
  /** Bytes; undefined means the provider's default (not limited on a local Docker engine). */
  disk?: number;
  pids: number;
  /** Whether the agent user may use sudo. */
  sudo: boolean;
  /** A desktop of this size (WIDTHxHEIGHT) runs in the sandbox; absent: none. */
  desktop?: string;
  /**
   * Who the sandbox may reach (src/core/network/policy.ts): default, open, none or
   * allow:DOMAIN,...; absent means default.
   */
  network?: string;
  /** Extra host names, NAME:ADDRESS (as docker's --add-host), for the sandbox and its allowlist. */
  hosts?: string[];
  /**
   * Agent log files the collector tails, as the agent user: absolute glob patterns or ones under
   * the user's home (`~/workspace/*.log`, `/tmp/agent/*.log`). Checked by `parseLogPatterns`.
   */
  logs?: string[];
}

/** A cloud create's choices beyond the profile (`sandbox start --provider digitalocean`). */
export interface CloudCreateOptions {
  /** A region slug (`nyc3`); the provider's default otherwise. */
  region?: string;
  /** A size slug (`s-2vcpu-4gb`); otherwise the smallest size that fits the profile. */
  size?: string;
  /** A GPU model (`h100`): the cheapest GPU size of that model offered in the region. */
  gpu?: string;
  /** The person said yes to a GPU size's price (`--yes`); without it a GPU create is refused with the price. */
  confirmGpu?: boolean;
  /** Time-to-live; 2 hours by default. */
  ttlMs?: number;
  /** The base system: Ubuntu 24.04 by default, 22.04 selectable. */
  os?: CloudOs;
  /** The monthly budget in USD for this decision (`--budget`); the state dir's setting otherwise. */
  budgetUsd?: number;
}

export const CLOUD_OSES = ['ubuntu-24-04', 'ubuntu-22-04'] as const;
export type CloudOs = (typeof CLOUD_OSES)[number];

/** A cloud sandbox's region, size and price, as listed when it was made. */
export interface CloudPlacement {
  region: string;
  size: string;
  usdPerHour: number;
  /** The host key pinned for it, kept while it is hibernated and has no SSH address. */
  hostKey?: string;
  /** Set while it is hibernated: the snapshot `start` makes it again from. */
  hibernatedAs?: string;
  /** Its time-to-live: the create's plus every extension, given to it again when it is restored from hibernation. */
  ttlMs?: number;
}

export interface SandboxRecord {
  id: string;
  name: string;
  agentId: string;
  provider: ProviderKind;
  profile: Profile;
  state: SandboxState;
  /** Why the state is error or lost, in one sentence. */
  problem?: string;
  createdAt: string;
  updatedAt: string;
  startedAt?: string;
  stoppedAt?: string;
  /** The provider's own handle (a container id, a droplet id). */
  providerRef?: string;
  /** Working directory of the agent inside the sandbox. */
  workdir: string;
  /** The agent user inside the sandbox. */
  user: string;
  /** Ports published on the local machine: container port -> 127.0.0.1 port. */
  ports: Record<string, number>;
  /** How to reach the sandbox over SSH, when it can be reached. */
  ssh?: SshEndpoint;
  /** For the ssh provider: the registered host the sandbox lives on, and in what form. */
  placement?: Placement;
  /** What of the profile is enforced, in words, where that is less than a container gives. */
  limits?: string;
  /** For cloud sandboxes: where it runs and what it costs (the ledger has the cost so far). */
  cloud?: CloudPlacement;
  /** Set while a create is in progress: lets another process tell an interrupted create. */
  creator?: { pid: number; host: string };
}

/**
 * Where a sandbox of the ssh provider lives. `container`: a container on the host's own Docker
 * engine, reached through the host. `directory`: a folder and a group of processes on the host,
 * under the host user's account.
 */
export interface Placement {
  host: string;
  kind: 'container' | 'directory';
}

/** An SSH server of a sandbox, with the host key pinned for it. */
export interface SshEndpoint {
  host: string;
  port: number;
  user: string;
  /** `ssh-ed25519 AAAA...`: known before the first connection, never learnt from it. */
  hostKey: string;
  /**
   * The user's own private key file (a registered SSH host's identity) instead of the
   * sandbox's client key.
   */
  identityFile?: string;
  /** Log in with the user's ssh-agent ($SSH_AUTH_SOCK) instead of a key file. */
  agent?: boolean;
  /** Reached through this server (like OpenSSH's ProxyJump): host and port are as it sees them. */
  jump?: SshEndpoint & { name: string };
  /** How commands start where the login is shared with the rest of a host (a directory sandbox). */
  run?: RunContext;
}

/** A directory sandbox's frame for every command: its folder, its marker, its limits. */
export interface RunContext {
  cwd: string;
  /** Set in every command; `stop` finds the sandbox's processes by it. */
  env: Record<string, string>;
  /** argv put before the command: the launcher that applies the limits. */
  prefix: string[];
}

export interface ExecRequest {
  /** argv (run directly) or a shell string (run by `sh -c`). */
  command: string[] | string;
  cwd?: string;
  env?: Record<string, string>;
  user?: string;
  /** Data written to the command's stdin, which is then closed. */
  stdin?: string | Buffer | NodeJS.ReadableStream;
  /** Milliseconds; the process (and its group) is killed inside the sandbox when it passes. */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Bytes kept per stream in the result; streaming callbacks still see everything. Default 1 MiB. */
  maxOutputBytes?: number;
  onStdout?: (chunk: Buffer) => void;
  onStderr?: (chunk: Buffer) => void;
  /**
   * Left running when the process that asked for it ends (the tasks to come): not recorded as
   * owned, so a later call never kills it for its owner being gone.
   */
  detached?: boolean;
  /** Set by the controller: the value of the command's kill marker, naming its owner. */
  execId?: string;
}

export interface ExecResult {
  exitCode: number | null;
  /** Set when the process ended by a signal (for example after a timeout or cancel). */
  signal?: string;
  durationMs: number;
  stdout: string;
  stderr: string;
  stdoutBytes: number;
  stderrBytes: number;
  /** True when stdout or stderr in this result were cut at maxOutputBytes. */
  truncated: boolean;
  timedOut: boolean;
  cancelled: boolean;
  /**
   * Set when the sandbox's memory limit killed a process while the command ran (read from the
   * cgroup's OOM kill counter, not guessed from the exit code): what happened, with the limit.
   */
  outOfMemory?: string;
}

export const DEFAULT_MAX_OUTPUT_BYTES = 1024 * 1024;
