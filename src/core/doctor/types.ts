import type Dockerode from 'dockerode';
import type { SshHost } from '../hosts/registry';

/**
 * A check's verdict. 'warn' is for what only some users need (a desktop image, Remote-SSH, the
 * SSH Include): reported with its fix, but it does not fail the doctor.
 */
export type CheckStatus = 'pass' | 'warn' | 'fail';

/** One line of the doctor's report. */
export interface CheckResult {
  /** Stable, for scripts: `engine`, `image.sandbox`, `host.NAME`. */
  id: string;
  title: string;
  status: CheckStatus;
  /** False only for 'fail': a warning leaves the machine usable. */
  ok: boolean;
  /** What was found, in one sentence. */
  detail: string;
  /** What to do about it, in one sentence; null when nothing needs doing. */
  fix: string | null;
}

export interface DoctorReport {
  /** Every check passed or only warned. */
  ok: boolean;
  checks: CheckResult[];
}

/** Where the checks look; each front end fills it from its own settings. */
export interface DoctorContext {
  /** The engine the sandboxes use (DOCKER_HOST, or the local socket). */
  docker: Dockerode;
  stateDir: string;
  /** Our managed SSH config, which the user's config should Include. */
  sshConfigFile: string;
  /** The user's OpenSSH config (~/.ssh/config, or VS Code's remote.SSH.configFile). */
  userSshConfig: string;
  homeDir: string;
  /** The SSH hosts added with `sandbox host add`. */
  hosts: () => Promise<SshHost[]>;
  /** Logs in to a host with its pinned key; rejects with a sentence when it cannot. */
  reachHost: (host: SshHost) => Promise<void>;
  /** Which program runs the checks: the CLI needs Node.js 20.19; the extension runs on VS Code's runtime. */
  runtime: 'cli' | 'extension';
  /** The extension knows which extensions VS Code loaded; the CLI looks in the extension folders. */
  remoteSshExtension?: () => string | undefined;
  /** How users call the CLI in fixes: `sandbox`, or `node dist/cli.js` from a clone. */
  cli: string;
  signal?: AbortSignal;
}

/** A group of related checks (one file each); a group may add lines for each thing it finds. */
export type CheckGroup = (context: DoctorContext) => Promise<CheckResult[]>;

export function pass(id: string, title: string, detail: string): CheckResult {
  return { id, title, status: 'pass', ok: true, detail, fix: null };
}

export function warn(id: string, title: string, detail: string, fix: string): CheckResult {
  return { id, title, status: 'warn', ok: true, detail, fix };
}

export function fail(id: string, title: string, detail: string, fix: string): CheckResult {
  return { id, title, status: 'fail', ok: false, detail, fix };
}
