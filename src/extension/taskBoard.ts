import { readFileSync, watch, type FSWatcher } from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { describeError } from '../core/errors';
import type { TaskClient } from '../core/tasks/client';
import type { Task } from '../core/tasks/model';
import type { Cockpit } from './cockpit';
import { CONTEXT_KEYS } from './commandIds';
import { loadCore } from './lazyCore';
import type { PoolMembership } from './taskPresentation';

/** Changes seen within this window are read once. */
const RELOAD_DEBOUNCE_MS = 100;
/**
 * How often the files are read without a notice: some file systems send none, and a daemon that
 * died leaves its lock file as it was.
 */
const POLL_MS = 2000;

export interface TaskBoardChange {
  /** Nothing changed but the time: only placed tasks' elapsed time is to be drawn again. */
  timeOnly: boolean;
}

/**
 * The tasks of the state dir as the views show them: task_queue.jsonl read through a TaskClient
 * (each read takes only the lines appended since the last one), whether a daemon runs, and the
 * scheduler's warm pools. Followed with fs.watch on the state dir plus a slow poll, as the
 * cockpit follows events.jsonl.
 */
export class TaskBoard implements vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<TaskBoardChange>();
  /** Fires after a read that changed what the views show, and at each poll while a task runs (its time moves on). */
  readonly onDidChange = this.changed.event;
  tasks: Task[] = [];
  schedulerRunning = false;
  pools: PoolMembership = { warm: new Set(), busy: new Set() };
  /** Whether the queue was read once. */
  loaded = false;
  private clientInstance?: TaskClient;
  private watcher?: FSWatcher;
  private pollTimer?: NodeJS.Timeout;
  private reloadTimer?: NodeJS.Timeout;
  private lastShown = '';
  private problemShown?: string;
  /** The state dir that could not be watched, said once in the log. */
  private unwatchable?: string;
  private started = false;
  private disposed = false;

  constructor(private readonly cockpit: Cockpit) {}

  /** The client of the current state dir; made again when the setting names another one. */
  get client(): TaskClient {
    const stateRoot = this.cockpit.stateDir();
    if (!this.clientInstance || this.clientInstance.stateRoot !== stateRoot) {
      this.clientInstance = new (loadCore().TaskClient)(stateRoot);
      this.follow(stateRoot);
    }
    return this.clientInstance;
  }

  /** Starts following the state dir (once) and reads it now. */
  start(): void {
    if (this.started || this.disposed) return;
    this.started = true;
    this.pollTimer = setInterval(() => this.reload(), POLL_MS);
    this.reload();
  }

  private follow(stateRoot: string): void {
    this.watcher?.close();
    this.watcher = undefined;
    const { QUEUE_FILE, SCHEDULER_STATUS_FILE, DAEMON_LOCK_FILE } = loadCore();
    const watched = new Set([QUEUE_FILE, SCHEDULER_STATUS_FILE, DAEMON_LOCK_FILE]);
    try {
      // The folder, not the file: the queue may not exist yet, and a compaction renames a new file over it.
      this.watcher = watch(stateRoot, (_event, file) => {
        if (!file || watched.has(file.toString())) this.scheduleReload();
      });
      this.watcher.on('error', (error) => this.cockpit.log.debug(`Stopped watching ${stateRoot} for tasks: ${describeError(error)}`));
    } catch (error) {
      // No state dir yet (nothing was ever made here): the poll notices when it comes, and tries again.
      if (this.unwatchable !== stateRoot)
        this.cockpit.log.debug(`Cannot watch ${stateRoot} for tasks yet (${describeError(error)}); reading it every ${POLL_MS / 1000} s`);
      this.unwatchable = stateRoot;
    }
  }

  scheduleReload(): void {
    if (this.reloadTimer) return;
    this.reloadTimer = setTimeout(() => {
      this.reloadTimer = undefined;
      this.reload();
    }, RELOAD_DEBOUNCE_MS);
  }

  /** Reads the queue, the daemon's lock and the scheduler's status; tells the views when any changed. */
  reload(): void {
    const client = this.client;
    const stateRoot = client.stateRoot;
    if (!this.watcher) this.follow(stateRoot);
    try {
      this.tasks = client.list();
      this.problemShown = undefined;
    } catch (error) {
      // A damaged queue: keep showing what was read, say it once.
      const message = `The task queue in ${stateRoot} cannot be read: ${describeError(error)}`;
      if (this.problemShown !== message) this.cockpit.log.error(message);
      this.problemShown = message;
    }
    this.schedulerRunning = loadCore().daemonStatus(stateRoot).running;
    this.pools = this.schedulerRunning ? readPools(path.join(stateRoot, loadCore().SCHEDULER_STATUS_FILE)) : { warm: new Set(), busy: new Set() };
    const firstRead = !this.loaded;
    this.loaded = true;
    const shown = JSON.stringify([
      this.tasks.map((task) => [task.id, task.updatedAt, task.state]),
      this.schedulerRunning,
      [...this.pools.warm],
      [...this.pools.busy],
    ]);
    // A placed task's elapsed time moves on by itself: its item is drawn again at each poll.
    const ticking = this.tasks.some((task) => task.state === 'assigned' || task.state === 'running');
    const timeOnly = shown === this.lastShown && !firstRead;
    if (timeOnly && !ticking) return;
    if (!timeOnly) {
      void vscode.commands.executeCommand('setContext', CONTEXT_KEYS.schedulerRunning, this.schedulerRunning);
      void vscode.commands.executeCommand('setContext', CONTEXT_KEYS.tasksLoaded, true);
    }
    this.lastShown = shown;
    this.changed.fire({ timeOnly });
  }

  /** The task of that id as last read, if it is still in the queue. */
  find(id: string): Task | undefined {
    return this.tasks.find((task) => task.id === id);
  }

  dispose(): void {
    this.disposed = true;
    if (this.pollTimer) clearInterval(this.pollTimer);
    if (this.reloadTimer) clearTimeout(this.reloadTimer);
    this.watcher?.close();
    this.changed.dispose();
  }
}

/** The warm and busy pool sandboxes (by name) of scheduler-status.json; none when it cannot be read. */
function readPools(file: string): PoolMembership {
  const warm = new Set<string>();
  const busy = new Set<string>();
  try {
    const status = JSON.parse(readFileSync(file, 'utf8')) as { pools?: { warm?: unknown; busy?: unknown }[] };
    for (const pool of status.pools ?? []) {
      for (const name of Array.isArray(pool.warm) ? pool.warm : []) if (typeof name === 'string') warm.add(name);
      for (const name of Array.isArray(pool.busy) ? pool.busy : []) if (typeof name === 'string') busy.add(name);
    }
  } catch {
    // no status yet: the pools are shown without it
  }
  return { warm, busy };
}
