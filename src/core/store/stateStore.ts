import { createHash, randomBytes } from 'node:crypto';
import { promises as fs, watch } from 'node:fs';
import * as path from 'node:path';
import type { SandboxRecord } from '../model';
import { generateEd25519, publicKeyOf } from '../ssh/keys';
import { withRecordLock } from './recordLock';
import { appendJsonLine, parseJsonLines, readJsonFile, writeFileAtomic } from './files';
import { defaultStateDir } from './stateDir';

export { STATE_DIR_ENV, defaultStateDir } from './stateDir';

/** One line of a sandbox's journal: every exec, sync and lifecycle step, in order. */
export type JournalEntry =
  | { time: string; kind: 'lifecycle'; action: string; detail?: string }
  | {
      time: string;
      kind: 'exec';
      command: string[] | string;
      cwd?: string;
      user?: string;
      envKeys?: string[];
      exitCode: number | null;
      signal?: string;
      durationMs: number;
      timedOut: boolean;
      cancelled: boolean;
      stdout: string;
      stderr: string;
      truncated: boolean;
      /** Set when the command could not run at all. */
      error?: string;
      /** Set when the sandbox's memory limit killed a process while it ran. */
      outOfMemory?: string;
    }
  | {
      time: string;
      kind: 'sync';
      direction: 'push' | 'pull';
      local: string;
      remote: string;
      files: number;
      bytes: number;
      deleted?: number;
      durationMs: number;
      error?: string;
    };

/**
 * The state dir shared by the CLI and the extension. It caches records (the providers are the
 * truth), keeps journals and sync manifests, and names its owner so our resources can be told
 * from anybody else's.
 */
export class StateStore {
  private ownerIdPromise?: Promise<string>;

  constructor(readonly root: string = defaultStateDir()) {}

  private get sandboxesDir(): string {
    return path.join(this.root, 'sandboxes');
  }

  recordPath(id: string): string {
    return path.join(this.sandboxesDir, `${id}.json`);
  }

  journalPath(id: string): string {
    return path.join(this.root, 'journal', `${id}.jsonl`);
  }

  manifestPath(id: string, localRoot: string, remoteDir: string): string {
    const key = createHash('sha256')
      .update(`${path.resolve(localRoot)}\0${remoteDir}`)
      .digest('hex')
      .slice(0, 16);
    return path.join(this.root, 'manifests', id, `${key}.json`);
  }

  /** Our SSH files: the managed config, its known_hosts, and one client key per sandbox. */
  get sshDir(): string {
    return path.join(this.root, 'ssh');
  }

  get sshConfigPath(): string {
    return path.join(this.sshDir, 'config');
  }

  /** OpenSSH's control sockets, one per sandbox connection shared by every `ssh` to it. */
  get sshControlDir(): string {
    return path.join(this.sshDir, 'cm');
  }

  get knownHostsPath(): string {
    return path.join(this.sshDir, 'known_hosts');
  }

  clientKeyPath(id: string): string {
    return path.join(this.sshDir, 'keys', id);
  }

  /** The client key of a sandbox (made on first use, mode 0600); `created` says it is new. */
  async clientKey(id: string): Promise<{ file: string; privateKey: string; publicKey: string; created: boolean }> {
    const file = this.clientKeyPath(id);
    const existing = await fs.readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return undefined;
      throw error;
    });
    // The public half always comes from the private key itself, so the two always match.
    if (existing !== undefined) return { file, privateKey: existing, publicKey: publicKeyOf(existing, `agent-sandboxes-${id}`), created: false };
    const pair = generateEd25519(`agent-sandboxes-${id}`);
    await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
    // link() refuses to replace, so two processes making the key at once agree on one.
    const temp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    await fs.writeFile(temp, pair.privateKey, { mode: 0o600 });
    try {
      await fs.link(temp, file);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      return this.clientKey(id);
    } finally {
      await fs.rm(temp, { force: true });
    }
    // OpenSSH reads IdentityFile.pub when present: written once the private key is settled.
    await writeFileAtomic(`${file}.pub`, `${pair.publicKey}\n`, 0o644);
    return { file, ...pair, created: true };
  }

  /** A random id made once per state dir; every resource we create carries it. */
  ownerId(): Promise<string> {
    this.ownerIdPromise ??= this.loadOrCreateOwnerId();
    return this.ownerIdPromise;
  }

  private async loadOrCreateOwnerId(): Promise<string> {
    const file = path.join(this.root, 'owner-id');
    await fs.mkdir(this.root, { recursive: true, mode: 0o700 });
    const candidate = randomBytes(8).toString('hex');
    try {
      // 'wx' so that two processes starting at once agree on one id.
      await fs.writeFile(file, candidate + '\n', { flag: 'wx', mode: 0o600 });
      return candidate;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    for (let attempt = 0; attempt < 20; attempt++) {
      const text = (await fs.readFile(file, 'utf8')).trim();
      if (text !== '') return text;
      await new Promise((resolve) => setTimeout(resolve, 10)); // the winner is still writing
    }
    throw new Error(`The owner id file ${file} is empty; delete it and try again.`);
  }

  async readRecord(id: string): Promise<SandboxRecord | undefined> {
    try {
      return await readJsonFile<SandboxRecord>(this.recordPath(id));
    } catch (error) {
      if (error instanceof SyntaxError) return undefined; // never written by us: writes are atomic
      throw error;
    }
  }

  async writeRecord(record: SandboxRecord): Promise<void> {
    await withRecordLock(this.locksDir, record.id, () => this.writeRecordFile(record));
  }

  /**
   * Writes `next` only while the record on disk is still `expected` (absent, when null), and says
   * whether it did. A listing that read a record just before another process rewrote or deleted
   * it must neither undo that change nor bring the sandbox back.
   */
  async replaceRecordIf(expected: SandboxRecord | null, next: SandboxRecord): Promise<boolean> {
    return withRecordLock(this.locksDir, next.id, async () => {
      const current = (await this.readRecord(next.id)) ?? null;
      if (JSON.stringify(current) !== JSON.stringify(expected)) return false;
      await this.writeRecordFile(next);
      return true;
    });
  }

  private async writeRecordFile(record: SandboxRecord): Promise<void> {
    await writeFileAtomic(this.recordPath(record.id), JSON.stringify(record, null, 2) + '\n');
  }

  private get locksDir(): string {
    return path.join(this.root, 'locks');
  }

  async listRecords(): Promise<SandboxRecord[]> {
    let names: string[];
    try {
      names = await fs.readdir(this.sandboxesDir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
    const records = await Promise.all(names.filter((name) => name.endsWith('.json')).map((name) => this.readRecord(name.slice(0, -'.json'.length))));
    return records.filter((record): record is SandboxRecord => record !== undefined);
  }

  /** Forgets a sandbox: its record, journal, manifests and client key, with any temp file of theirs. */
  async deleteRecord(id: string): Promise<void> {
    await withRecordLock(this.locksDir, id, () => fs.rm(this.recordPath(id), { force: true }));
    await Promise.all([
      fs.rm(this.journalPath(id), { force: true }),
      fs.rm(path.join(this.root, 'manifests', id), { recursive: true, force: true }),
      fs.rm(this.clientKeyPath(id), { force: true }),
      fs.rm(`${this.clientKeyPath(id)}.pub`, { force: true }),
      removeTempFilesOf(this.recordPath(id)),
      removeTempFilesOf(this.clientKeyPath(id)),
    ]);
  }

  async appendJournal(id: string, entry: JournalEntry): Promise<void> {
    await appendJsonLine(this.journalPath(id), entry);
  }

  async readJournal(id: string): Promise<JournalEntry[]> {
    try {
      return parseJsonLines<JournalEntry>(await fs.readFile(this.journalPath(id), 'utf8'));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
  }

  /** Yields journal entries appended after the call, until the signal aborts. */
  async *followJournal(id: string, signal: AbortSignal): AsyncGenerator<JournalEntry> {
    const file = this.journalPath(id);
    await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
    let offset = await fs.stat(file).then(
      (s) => s.size,
      () => 0,
    );
    let pending = '';
    let wake: (() => void) | undefined;
    const watcher = watch(path.dirname(file), () => wake?.());
    const onAbort = () => wake?.();
    signal.addEventListener('abort', onAbort);
    try {
      while (!signal.aborted) {
        const size = await fs.stat(file).then(
          (s) => s.size,
          () => 0,
        );
        if (size > offset) {
          const handle = await fs.open(file, 'r');
          try {
            const buffer = Buffer.alloc(size - offset);
            await handle.read(buffer, 0, buffer.length, offset);
            offset = size;
            pending += buffer.toString('utf8');
          } finally {
            await handle.close();
          }
          const lastNewline = pending.lastIndexOf('\n');
          if (lastNewline >= 0) {
            const complete = pending.slice(0, lastNewline);
            pending = pending.slice(lastNewline + 1);
            yield* parseJsonLines<JournalEntry>(complete);
          }
          continue;
        }
        await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
      }
    } finally {
      watcher.close();
      signal.removeEventListener('abort', onAbort);
    }
  }

  async readManifest<T>(file: string): Promise<T | undefined> {
    try {
      return await readJsonFile<T>(file);
    } catch (error) {
      if (error instanceof SyntaxError) return undefined;
      throw error;
    }
  }

  async writeManifest(file: string, manifest: unknown): Promise<void> {
    await writeFileAtomic(file, JSON.stringify(manifest));
  }
}

/** Temp files beside `file` (its key's too) that a process killed in the middle of writing them left behind. */
async function removeTempFilesOf(file: string): Promise<void> {
  const dir = path.dirname(file);
  const prefix = `${path.basename(file)}.`;
  const names = await fs.readdir(dir).catch(() => [] as string[]);
  await Promise.all(names.filter((name) => name.startsWith(prefix) && name.endsWith('.tmp')).map((name) => fs.rm(path.join(dir, name), { force: true })));
}
