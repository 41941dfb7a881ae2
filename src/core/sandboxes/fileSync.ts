import * as path from 'node:path';
import { describeError, isSandboxError } from '../errors';
import type { EventBus } from '../events/bus';
import type { EventInput } from '../events/types';
import type { ExecRequest, ExecResult, SandboxRecord } from '../model';
import { assertUsable } from '../sandboxState';
import type { StateStore } from '../store/stateStore';
import { pullTree, pushTree, unpackWithTar, type Manifest, type SyncChannel } from '../sync';
import { AGENT_UID, type PullOptions, type PushOptions, type SyncSummary } from './types';

export interface FileSyncDeps {
  store: StateStore;
  events: EventBus;
  resolve(ref: string): Promise<SandboxRecord>;
  /** A command on the sandbox's channel, not journalled; `internal` as for a create's own steps. */
  execIn(record: SandboxRecord, request: ExecRequest, internal: boolean): Promise<ExecResult>;
}

/** sync_files: folders copied between here and a sandbox, incrementally out, hostile-safe in. */
export class FileSync {
  constructor(private readonly deps: FileSyncDeps) {}

  /** Sync rides on exec alone, so it works over whatever channel exec uses. */
  private channel(record: SandboxRecord, internal: boolean): SyncChannel {
    const exec = (request: ExecRequest) => this.deps.execIn(record, request, internal);
    return { exec, putArchive: (directory, tar, signal) => unpackWithTar(exec, directory, tar, signal) };
  }

  /** sync_files, local to sandbox. */
  async push(ref: string, options: PushOptions): Promise<SyncSummary> {
    return this.pushTo(await this.deps.resolve(ref), options);
  }

  /** A push into this record; `internal`: the create's own push into a sandbox still `creating`. */
  async pushTo(record: SandboxRecord, options: PushOptions, internal = false): Promise<SyncSummary> {
    const { store, events } = this.deps;
    assertUsable(record, internal);
    const localRoot = path.resolve(options.localRoot);
    const remoteDir = path.posix.resolve(record.workdir, options.remoteDir ?? '.');
    const manifestFile = store.manifestPath(record.id, localRoot, remoteDir);
    const previous = options.full ? undefined : ((await store.readManifest<Manifest>(manifestFile)) ?? options.assumeHeld);
    try {
      const result = await pushTree({
        channel: this.channel(record, internal),
        localRoot,
        remoteDir,
        previous,
        deleteExtraneous: options.deleteExtraneous,
        excludes: options.excludes,
        gitignoreFrom: options.gitignoreFrom,
        // Our images' agent user; on a host's own account files stay the login user's.
        owner: record.placement?.kind === 'directory' ? undefined : { uid: AGENT_UID, gid: AGENT_UID },
        signal: options.signal,
        onProgress: options.onProgress,
      });
      await store.writeManifest(manifestFile, result.manifest);
      const summary: SyncSummary = {
        direction: 'push',
        local: localRoot,
        remote: remoteDir,
        files: result.filesSent,
        bytes: result.bytesSent,
        deleted: result.deleted.length,
        unchanged: result.unchanged,
        durationMs: result.durationMs,
        skipped: result.skipped,
        overwrittenInSandbox: result.overwrittenInSandbox,
        linksOutside: result.linksOutside,
      };
      await events.emit(syncEnded(record.id, { ...summary }));
      return summary;
    } catch (error) {
      await events.emit(
        syncEnded(record.id, { direction: 'push', local: localRoot, remote: remoteDir, files: 0, bytes: 0, durationMs: 0, error: describeError(error) }, error),
      );
      throw error;
    }
  }

  /** What the last successful push of `localRoot` into the sandbox left there, as recorded; undefined when none was. */
  async pushedManifest(ref: string, localRoot: string, remoteDir?: string): Promise<Manifest | undefined> {
    const record = await this.deps.resolve(ref);
    const remote = path.posix.resolve(record.workdir, remoteDir ?? '.');
    return this.deps.store.readManifest<Manifest>(this.deps.store.manifestPath(record.id, path.resolve(localRoot), remote));
  }

  /** sync_files, sandbox to local: the sandbox is treated as hostile. */
  async pull(ref: string, options: PullOptions): Promise<SyncSummary> {
    const { events } = this.deps;
    const record = await this.deps.resolve(ref);
    assertUsable(record, false);
    const localRoot = path.resolve(options.localRoot);
    const remoteDir = path.posix.resolve(record.workdir, options.remoteDir ?? '.');
    try {
      const result = await pullTree({
        channel: this.channel(record, false),
        remoteDir,
        localRoot,
        maxBytes: options.maxBytes,
        excludes: options.excludes,
        signal: options.signal,
        onProgress: options.onProgress,
      });
      const { files, bytes, skippedLinks, replacedLinks, durationMs } = result;
      const summary: SyncSummary = {
        direction: 'pull',
        local: localRoot,
        remote: remoteDir,
        files,
        bytes,
        deleted: 0,
        skippedLinks,
        replacedLinks,
        durationMs,
      };
      // The journal keeps counts; the lists are in the summary.
      await events.emit(syncEnded(record.id, { direction: 'pull', local: localRoot, remote: remoteDir, files, bytes, deleted: 0, durationMs }));
      return summary;
    } catch (error) {
      await events.emit(
        syncEnded(record.id, { direction: 'pull', local: localRoot, remote: remoteDir, files: 0, bytes: 0, durationMs: 0, error: describeError(error) }, error),
      );
      throw error;
    }
  }
}

/** What the journal keeps of a push or pull: a push its whole summary, a pull its counts. */
type SyncNote = Pick<SyncSummary, 'direction' | 'local' | 'remote' | 'files' | 'bytes' | 'durationMs'> & Partial<SyncSummary> & { error?: string };

/** A push or pull ended, with or without an error; the journal's line goes along as it always was. */
function syncEnded(sandboxId: string, note: SyncNote, error?: unknown): EventInput {
  const { direction, local, remote, files, bytes, durationMs } = note;
  return {
    type: 'sync.ended',
    sandboxId,
    direction,
    local,
    remote,
    files,
    bytes,
    deleted: note.deleted ?? 0,
    durationMs,
    errorCode: isSandboxError(error) ? error.code : undefined,
    error: note.error,
    localOnly: { details: note },
  };
}
