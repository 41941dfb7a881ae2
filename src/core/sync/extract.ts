import { link, lutimes, mkdir, mkdtemp, open, realpath, rm, stat, symlink, unlink } from 'node:fs/promises';
import * as path from 'node:path';
import * as tar from 'tar-stream';
import type { Header } from 'tar-stream';
import { SandboxError, cancelledError, throwIfAborted } from '../errors';
import { entryPath, refuseArchive, refuseEntry, symlinkTargetProblem } from './archivePaths';
import type { PathFilter } from './ignore';
import { LinkResolver } from './linkTargets';
import { commitStaged, type DirectoryAttributes, type ReplacedLink } from './merge';

export interface PullProgress {
  /** Entries other than folders written so far, and their content bytes. */
  files: number;
  bytes: number;
}

export interface SafeExtractOptions {
  /** The folder the archive was made from, as an absolute path in the sandbox: absolute links are read against it. */
  sourceDir: string;
  /** Refuse the archive once this many bytes have streamed in (headers included). */
  maxBytes: number;
  /** Matching entries are skipped, never written. */
  filter?: PathFilter;
  signal?: AbortSignal;
  onProgress?: (progress: PullProgress) => void;
}

/** A symlink of the archive that was not written, and why ("points outside /home/agent/workspace"). */
export interface SkippedLink {
  path: string;
  target: string;
  reason: string;
}

export interface ExtractResult {
  files: number;
  bytes: number;
  /** Links that lead outside the folder (or through a loop): not written, the rest of the pull went on. */
  skippedLinks: SkippedLink[];
  /** Local symlinks the sandbox's folder or file took the place of. */
  replacedLinks: ReplacedLink[];
}

/**
 * The archive as it arrives: chunks read at the reader's pace. `destroy` ends the read early
 * (a refusal), so that a sender that never finishes does not keep the pull waiting.
 */
export type ArchiveSource = AsyncIterable<Buffer | string> & { destroy?: () => void };

type EntryContent = AsyncIterable<unknown>;
type StagedKind = 'file' | 'dir' | 'symlink';

/**
 * Extracts an untrusted tar stream into `localRoot`. Everything is first written to a private
 * staging folder next to the target, and moved in only after the stream ended cleanly and every
 * entry passed the checks; on any failure the staging folder is removed and the target is left
 * exactly as it was. `localRoot` is created on success when missing; its parent must exist.
 */
export async function extractArchiveSafely(archive: ArchiveSource, localRoot: string, options: SafeExtractOptions): Promise<ExtractResult> {
  throwIfAborted(options.signal, 'The pull');
  const target = await resolveTarget(localRoot);
  // Same parent, so the same filesystem: the final moves are renames. mkdtemp makes it 0700.
  const staging = await mkdtemp(path.join(path.dirname(target), `.${path.basename(target)}.sandbox-pull-`));
  try {
    const stager = new Stager(staging, options);
    await readArchive(archive, stager, options);
    throwIfAborted(options.signal, 'The pull');
    const skippedLinks = await stager.materializeLinks(options.signal);
    const replacedLinks = await commitStaged(staging, target, stager.directories);
    return { files: stager.files, bytes: stager.bytes, skippedLinks, replacedLinks };
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

/** The final (symlink-free) path of the target, which need not exist yet. */
async function resolveTarget(localRoot: string): Promise<string> {
  const absolute = path.resolve(localRoot);
  const stats = await stat(absolute).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined;
    throw error;
  });
  if (stats && !stats.isDirectory()) throw new SandboxError('invalid-input', `${absolute} is not a folder; pull into a folder.`);
  if (stats) return realpath(absolute);
  const parent = path.dirname(absolute);
  const realParent = await realpath(parent).catch(() => {
    throw new SandboxError('invalid-input', `The folder ${parent} does not exist; create it first.`);
  });
  return path.join(realParent, path.basename(absolute));
}

/** Parses the archive and hands each entry to the stager; the first failure wins and stops both sides. */
async function readArchive(archive: ArchiveSource, stager: Stager, options: SafeExtractOptions): Promise<void> {
  const extract = tar.extract();
  let failure: unknown;
  const stop = (error: unknown): void => {
    failure ??= error;
    extract.destroy(error as Error);
    // Also end our read of the source, as leaving a for-await would: a sender that never
    // finishes must not keep a refused pull waiting for its next chunk.
    archive.destroy?.();
  };
  extract.on('error', stop);
  const onAbort = (): void => stop(cancelledError('The pull'));
  options.signal?.addEventListener('abort', onAbort, { once: true });
  if (options.signal?.aborted) onAbort(); // aborted while the target was being prepared

  const feeding = feed(archive, extract, options.maxBytes, stop);
  try {
    for await (const entry of extract) {
      await stager.add(entry.header, entry);
      options.onProgress?.({ files: stager.files, bytes: stager.bytes });
    }
  } catch (error) {
    stop(error);
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
    await feeding;
  }
  if (failure !== undefined) throw asPullFailure(failure);
}

/** Copies the archive into the parser, counting what streams in rather than trusting headers. */
async function feed(archive: ArchiveSource, extract: tar.Extract, maxBytes: number, stop: (error: unknown) => void): Promise<void> {
  let received = 0;
  try {
    for await (const chunk of archive) {
      if (extract.destroying) return;
      const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      received += bytes.length;
      if (received > maxBytes) throw refuseArchive(`the archive is larger than the limit of ${maxBytes} bytes`);
      if (!extract.write(bytes)) await writableAgain(extract);
    }
    extract.end(null); // streamx's end() takes an optional last chunk; null means none
  } catch (error) {
    stop(error);
  }
}

function writableAgain(extract: tar.Extract): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      extract.off('drain', done);
      extract.off('close', done);
      resolve();
    };
    extract.on('drain', done);
    extract.on('close', done);
  });
}

/** Our refusals and local I/O errors pass as they are; anything else came from parsing the stream. */
function asPullFailure(error: unknown): unknown {
  if (error instanceof SandboxError || typeof (error as NodeJS.ErrnoException)?.syscall === 'string') return error;
  return refuseArchive(`the stream from the sandbox is not a valid tar archive (${(error as Error)?.message ?? String(error)})`);
}

/** Writes validated entries into the staging folder and remembers what each path is. */
class Stager {
  files = 0;
  bytes = 0;
  /** Folders to give their mode and mtime once everything is in place (children would change them). */
  readonly directories = new Map<string, DirectoryAttributes>();
  private readonly kinds = new Map<string, StagedKind>();
  /**
   * Symlinks are staged as empty placeholder files and made real only after the whole archive
   * passed: while entries are still being written, the staging folder holds no link to write
   * through, and a link's target may name entries that come later.
   */
  private readonly links = new Map<string, { target: string; mtime?: Date }>();
  private readonly excludedLinks = new Map<string, string>();

  constructor(
    private readonly staging: string,
    private readonly options: SafeExtractOptions,
  ) {}

  async add(header: Header, content: EntryContent): Promise<void> {
    const name = header.name;
    const relativePath = entryPath(name);
    if (relativePath === '') {
      // `tar -C dir .` names the folder itself './': its attributes are not ours to change.
      if (header.type !== 'directory') throw refuseEntry(name, 'would replace the target folder itself');
    } else if (!this.options.filter?.isExcluded(relativePath, header.type === 'directory')) {
      await this.stage(relativePath, header, content).catch((error: NodeJS.ErrnoException) => {
        // Names of up to 255 bytes each can still add up to more than a path may have here.
        throw error.code === 'ENAMETOOLONG' ? refuseEntry(name, 'has a path longer than this system allows') : error;
      });
    } else if (header.type === 'symlink' && header.linkname && !symlinkTargetProblem(header.linkname)) {
      // Not written, but a '..' after it in another link's target still climbs from where it leads.
      this.excludedLinks.set(relativePath, header.linkname);
    }
    await drain(content); // an entry must be read to its end before the parser moves on
  }

  /** Writes each link as its relative equivalent, or leaves it out when it leads outside (or round a loop); returns those left out. */
  async materializeLinks(signal: AbortSignal | undefined): Promise<SkippedLink[]> {
    const resolver = new LinkResolver(this.options.sourceDir, (relativePath) => this.links.get(relativePath)?.target ?? this.excludedLinks.get(relativePath));
    const skipped: SkippedLink[] = [];
    let done = 0;
    for (const [relativePath, { target, mtime }] of this.links) {
      if (++done % 1000 === 0) throwIfAborted(signal, 'The pull');
      const placeholder = this.stagedPath(relativePath);
      await unlink(placeholder);
      const decision = resolver.decide(relativePath, target);
      if ('skip' in decision) {
        skipped.push({ path: relativePath, target, reason: decision.skip });
        this.files--;
        continue;
      }
      await symlink(decision.write, placeholder);
      if (mtime) await lutimes(placeholder, mtime, mtime);
    }
    return skipped;
  }

  private async stage(relativePath: string, header: Header, content: EntryContent): Promise<void> {
    const name = header.name;
    const type = header.type as string | null;
    const mode = header.mode ?? 0;
    const mtime = validDate(header.mtime);
    if (type !== 'directory' && (mode & 0o6000) !== 0) throw refuseEntry(name, 'has the setuid or setgid bit');
    const existing = this.kinds.get(relativePath);
    if (existing && !(existing === 'dir' && type === 'directory')) throw refuseEntry(name, 'appears more than once in the archive');
    await this.prepareParents(relativePath, name);
    const staged = this.stagedPath(relativePath);

    switch (type) {
      case 'directory':
        if (!existing) await mkdir(staged, { mode: 0o700 });
        this.kinds.set(relativePath, 'dir');
        // Sticky, setgid and setuid bits on a folder are dropped rather than refused: harmless, and common.
        this.directories.set(relativePath, { mode: mode & 0o777, mtime });
        return;
      case 'file':
      case 'contiguous-file':
        await this.writeFile(staged, content, mode & 0o777, mtime);
        this.kinds.set(relativePath, 'file');
        this.files++;
        return;
      case 'symlink': {
        const target = header.linkname ?? '';
        // Only what no real symlink can be is refused here; where it leads is decided at the end.
        const problem = symlinkTargetProblem(target);
        if (problem) throw refuseEntry(name, problem);
        await (await open(staged, 'wx', 0o600)).close();
        this.links.set(relativePath, { target, mtime });
        this.kinds.set(relativePath, 'symlink');
        this.files++;
        return;
      }
      case 'link': {
        const linkName = header.linkname ?? '';
        const source = safeEntryPath(linkName);
        if (source === undefined) throw refuseEntry(name, `is a hard link to ${JSON.stringify(linkName)}, outside the folder`);
        if (this.kinds.get(source) !== 'file') {
          throw refuseEntry(name, `is a hard link to ${JSON.stringify(linkName)}, which is not a regular file earlier in the archive`);
        }
        await link(this.stagedPath(source), staged);
        this.kinds.set(relativePath, 'file');
        this.files++;
        return;
      }
      case 'character-device':
        throw refuseEntry(name, 'is a character device');
      case 'block-device':
        throw refuseEntry(name, 'is a block device');
      case 'fifo':
        throw refuseEntry(name, 'is a fifo');
      default:
        throw refuseEntry(name, `has an entry type that is not accepted (${type ?? 'unknown'})`);
    }
  }

  /** Creates missing parent folders; refuses a path that goes through a link or a file of the archive. */
  private async prepareParents(relativePath: string, name: string): Promise<void> {
    const parts = relativePath.split('/');
    for (let depth = 1; depth < parts.length; depth++) {
      const parent = parts.slice(0, depth).join('/');
      const kind = this.kinds.get(parent);
      if (kind === 'symlink') throw refuseEntry(name, `goes through the symlink ${JSON.stringify(parent)}`);
      if (kind === 'file') throw refuseEntry(name, `is inside ${JSON.stringify(parent)}, which is not a folder`);
      if (kind === undefined) {
        // Not described by the archive: an ordinary folder, and an existing local one keeps its mode.
        await mkdir(this.stagedPath(parent), { mode: 0o755 });
        this.kinds.set(parent, 'dir');
      }
    }
  }

  private async writeFile(staged: string, content: EntryContent, mode: number, mtime: Date | undefined): Promise<void> {
    // 'wx': never opens something that is already there, link or not.
    const handle = await open(staged, 'wx', 0o600);
    try {
      for await (const chunk of content) {
        const bytes = chunk as Buffer;
        await handle.write(bytes);
        this.bytes += bytes.length;
      }
      await handle.chmod(mode);
      if (mtime) await handle.utimes(mtime, mtime);
    } finally {
      await handle.close();
    }
  }

  private stagedPath(relativePath: string): string {
    return path.join(this.staging, ...relativePath.split('/'));
  }
}

function safeEntryPath(name: string): string | undefined {
  try {
    return entryPath(name);
  } catch {
    return undefined;
  }
}

/** Reads what is left of an entry and discards it. */
async function drain(content: EntryContent): Promise<void> {
  for await (const _ of content) {
    // discarded
  }
}

function validDate(value: Date | undefined): Date | undefined {
  return value && Number.isFinite(value.getTime()) ? value : undefined;
}
