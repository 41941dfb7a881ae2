import { spawn } from 'node:child_process';
import { closeSync, openSync, promises as fs, renameSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { SandboxError } from '../errors';
import { currentOwner, ownerAlive } from '../exec/owners';
import { acquirePidLock, readPidLock, type PidLockHolder } from './pidLock';

export const DAEMON_LOCK_FILE = 'daemon.lock';
export const DAEMON_LOG_FILE = 'daemon.log';
/** Past this size the log is moved to daemon.1.log when a daemon starts. */
const MAX_LOG_BYTES = 8 * 1024 * 1024;

/** Who runs the daemon of a state dir: its process (pid, start time, a hash of the host) and since when. */
export type DaemonHolder = PidLockHolder;

export interface DaemonStatus {
  running: boolean;
  holder?: DaemonHolder;
  /** True when the holder is on another machine (a shared state dir): it cannot be checked from here. */
  elsewhere?: boolean;
  logFile: string;
}

export function daemonLogFile(stateRoot: string): string {
  return path.join(stateRoot, DAEMON_LOG_FILE);
}

function lockFile(stateRoot: string): string {
  return path.join(stateRoot, DAEMON_LOCK_FILE);
}

function readHolder(stateRoot: string): DaemonHolder | undefined {
  return readPidLock(lockFile(stateRoot));
}

export function daemonStatus(stateRoot: string): DaemonStatus {
  const holder = readHolder(stateRoot);
  const logFile = daemonLogFile(stateRoot);
  if (!holder) return { running: false, logFile };
  const elsewhere = holder.host !== currentOwner().host;
  return { running: ownerAlive(holder), holder, ...(elsewhere ? { elsewhere } : {}), logFile };
}

/**
 * Makes this process the daemon of the state dir: the lock file is created with O_EXCL; one left
 * by a daemon that died (its pid gone, or reused by another program) is taken over.
 */
export function acquireDaemonLock(stateRoot: string): () => void {
  return acquirePidLock(
    lockFile(stateRoot),
    (holder) =>
      new SandboxError(
        'conflict',
        `A daemon already runs for this state dir (pid ${holder.pid}, since ${holder.startedAt}); stop it with \`sandbox daemon stop\` first.`,
      ),
  );
}

/**
 * Starts `node SCRIPT daemon run` in the background, its output appended to daemon.log, and
 * waits until it holds the lock (or has died, with the log's last lines as the reason).
 */
export async function startDaemonProcess(options: {
  stateRoot: string;
  script: string;
  node?: string;
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
}): Promise<DaemonStatus> {
  const { stateRoot } = options;
  const already = daemonStatus(stateRoot);
  if (already.running) return already;
  await fs.mkdir(stateRoot, { recursive: true, mode: 0o700 });
  const logFile = daemonLogFile(stateRoot);
  try {
    if (statSync(logFile).size > MAX_LOG_BYTES) renameSync(logFile, path.join(stateRoot, 'daemon.1.log'));
  } catch {
    // no log yet
  }
  const log = openSync(logFile, 'a', 0o600);
  const child = spawn(options.node ?? process.execPath, [options.script, 'daemon', 'run'], {
    detached: true,
    stdio: ['ignore', log, log],
    env: { ...(options.env ?? process.env), AGENT_SANDBOXES_HOME: stateRoot },
  });
  closeSync(log);
  let exited: number | null | undefined;
  child.once('exit', (code) => (exited = code));
  child.unref();
  const deadline = Date.now() + (options.timeoutMs ?? 15_000);
  while (Date.now() < deadline) {
    const status = daemonStatus(stateRoot);
    if (status.running && status.holder?.pid === child.pid) return status;
    if (exited !== undefined) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const tail = await fs.readFile(logFile, 'utf8').then(
    (text) => text.trim().split('\n').slice(-3).join(' '),
    () => '',
  );
  throw new SandboxError('provider-error', `The daemon did not start${tail ? `: ${tail}` : ''}; see ${logFile}.`);
}

/** Asks the daemon to stop (SIGTERM) and waits until it let go of the lock. */
export async function stopDaemon(stateRoot: string, timeoutMs = 20_000): Promise<DaemonStatus> {
  const status = daemonStatus(stateRoot);
  if (!status.running || !status.holder) return status;
  if (status.elsewhere) throw new SandboxError('wrong-state', 'The daemon of this state dir runs on another machine; stop it there.');
  process.kill(status.holder.pid, 'SIGTERM');
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const now = daemonStatus(stateRoot);
    if (!now.running) return now;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new SandboxError('wrong-state', `The daemon (pid ${status.holder.pid}) did not stop within ${timeoutMs / 1000} s; see ${status.logFile}.`);
}
