import type { Manifest } from '../sync/manifest';
import type { CloudCreateOptions, CloudOs, ProviderKind, Profile } from '../model';
import type { JournalEntry } from '../store/stateStore';
import type { ReplacedLink, SkippedLink, SkippedPath } from '../sync';

/** The agent user of our images, and the owner given to pushed files. */
export const AGENT_USER = 'agent';
export const AGENT_UID = 1000;
export const AGENT_WORKDIR = '/home/agent/workspace';

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
  /** The snapshot to start from (`sandbox snapshots`): its image, and its profile unless `profile` says otherwise. */
  fromSnapshot?: string;
  /** For cloud providers: where, how big, for how long, and the yes a GPU size needs. */
  cloud?: CloudCreateOptions;
  /** The task the sandbox is made for, when a task's scheduler makes it (for the cost ledger). */
  taskId?: string;
  signal?: AbortSignal;
  onProgress?: (progress: Progress) => void;
}

export interface BuildImageOptions {
  force?: boolean;
  desktop?: boolean;
  /** Where the image is for: the local engine when not given. */
  provider?: ProviderKind;
  /** A cloud image's OS and builder region. */
  os?: CloudOs;
  region?: string;
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
  /** Apply the .gitignore files of this local tree rather than those of `localRoot` (see sync/push.ts). */
  gitignoreFrom?: string;
  /**
   * What the sandbox folder is known to hold when no push of this folder to it was recorded: a
   * sandbox made from a snapshot holds what was pushed to its origin, so only the difference travels.
   */
  assumeHeld?: Manifest;
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
  { time: string; source: 'sandbox'; stream: 'stdout' | 'stderr'; text: string } | { time: string; source: 'journal'; entry: JournalEntry };

export interface SandboxLogOptions {
  follow?: boolean;
  tail?: number;
  signal?: AbortSignal;
}

export interface ReconcileReport {
  adopted: string[];
  lost: string[];
  interrupted: string[];
}
