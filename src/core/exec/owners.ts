import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/**
 * Which process asked for each running command, so that a command whose CLI was killed with
 * SIGKILL (no chance to cancel it) is killed by the next call that notices its owner is gone.
 * The owner is in the command's marker (SANDBOX_EXEC_ID=<random>-<pid>-<start>-<host>, seen by
 * every process of it inside the sandbox) and in a file of the state dir per running command,
 * so noticing costs one directory read and no trip into the sandbox.
 */
export interface ExecOwner {
  pid: number;
  /** The process's start time (clock ticks after boot), so a reused pid is not taken for it. */
  start: string;
  /** A hash of the host name: the marker is visible inside the sandbox. */
  host: string;
}

interface OwnedExec extends ExecOwner {
  execId: string;
  user: string;
}

export interface Orphan {
  sandboxId: string;
  execId: string;
  user: string;
}

function hostTag(): string {
  return createHash('sha256').update(os.hostname()).digest('hex').slice(0, 8);
}

function startTimeOf(pid: number): string {
  try {
    const raw = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return raw.slice(raw.lastIndexOf(')') + 2).split(' ')[19] ?? '';
  } catch {
    return ''; // no procfs (macOS): the pid alone
  }
}

let self: ExecOwner | undefined;

export function currentOwner(): ExecOwner {
  self ??= { pid: process.pid, start: startTimeOf(process.pid), host: hostTag() };
  return self;
}

/** A fresh marker value naming this process as the owner. */
export function newExecId(): string {
  const owner = currentOwner();
  return `${randomBytes(8).toString('hex')}-${owner.pid}-${owner.start || '0'}-${owner.host}`;
}

/** False when the owner is known to be gone; true when alive or when this host cannot tell (another machine). */
export function ownerAlive(owner: ExecOwner): boolean {
  if (owner.host !== hostTag()) return true;
  try {
    process.kill(owner.pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const start = startTimeOf(owner.pid);
  return !(owner.start && start && start !== owner.start);
}

export class ExecOwnerRegistry {
  private readonly made = new Set<string>();

  constructor(private readonly dir: string) {}

  private fileOf(sandboxId: string, execId: string): string {
    return path.join(this.dir, sandboxId, `${execId}.json`);
  }

  /** Notes a command as this process's until the returned function is called. */
  async add(sandboxId: string, execId: string, user: string): Promise<() => Promise<void>> {
    const folder = path.join(this.dir, sandboxId);
    if (!this.made.has(folder)) {
      await fs.mkdir(folder, { recursive: true, mode: 0o700 });
      this.made.add(folder);
    }
    const file = this.fileOf(sandboxId, execId);
    const entry: OwnedExec = { ...currentOwner(), execId, user };
    await fs.writeFile(file, JSON.stringify(entry), { mode: 0o600 });
    return () => fs.rm(file, { force: true });
  }

  /** Commands of these sandboxes (all when not given) whose owner is gone. */
  async orphans(sandboxIds?: string[]): Promise<Orphan[]> {
    const ids = sandboxIds ?? (await fs.readdir(this.dir).catch(() => [] as string[]));
    const found: Orphan[] = [];
    for (const sandboxId of ids) {
      const files = await fs.readdir(path.join(this.dir, sandboxId)).catch(() => [] as string[]);
      for (const name of files) {
        if (!name.endsWith('.json')) continue;
        let entry: OwnedExec;
        try {
          entry = JSON.parse(await fs.readFile(path.join(this.dir, sandboxId, name), 'utf8')) as OwnedExec;
        } catch {
          continue; // being written, or torn by a crash: the next look decides
        }
        if (typeof entry.execId !== 'string' || !/^[0-9a-z-]{1,100}$/.test(entry.execId)) continue;
        if (!ownerAlive(entry)) found.push({ sandboxId, execId: entry.execId, user: String(entry.user) });
      }
    }
    return found;
  }

  async remove(sandboxId: string, execId: string): Promise<void> {
    await fs.rm(this.fileOf(sandboxId, execId), { force: true });
  }

  async forget(sandboxId: string): Promise<void> {
    await fs.rm(path.join(this.dir, sandboxId), { recursive: true, force: true });
    this.made.delete(path.join(this.dir, sandboxId));
  }
}
