import * as path from 'node:path';
import { readJsonFile, writeFileAtomic } from '../store/files';

const CLAIMS_FILE = 'tasks-claimed.json';
/** What pool sandboxes are called by: their agent id, `pool:<profile>`. */
export const POOL_AGENT_PREFIX = 'pool:';

export function poolAgentId(profile: string): string {
  return `${POOL_AGENT_PREFIX}${profile}`;
}

export function poolProfileOf(agentId: string): string | undefined {
  return agentId.startsWith(POOL_AGENT_PREFIX) ? agentId.slice(POOL_AGENT_PREFIX.length) : undefined;
}

/**
 * The pool sandboxes given to a task, ever: a claimed sandbox never goes back to the pool (it ran
 * someone's work). Written by the scheduler before the task's `assigned` line, so a crash in
 * between leaves a claim no task names, which the next scheduler releases.
 */
export class Claims {
  private readonly file: string;
  private ids = new Set<string>();

  constructor(stateRoot: string) {
    this.file = path.join(stateRoot, CLAIMS_FILE);
  }

  async load(): Promise<void> {
    const saved = await readJsonFile<{ ids?: unknown }>(this.file).catch(() => undefined);
    this.ids = new Set(Array.isArray(saved?.ids) ? saved.ids.filter((id): id is string => typeof id === 'string') : []);
  }

  has(sandboxId: string): boolean {
    return this.ids.has(sandboxId);
  }

  async add(sandboxId: string): Promise<void> {
    this.ids.add(sandboxId);
    await this.save();
  }

  /** Keeps only the claims `keep` says are still wanted (their sandbox exists, or a task names it). */
  async retain(keep: (sandboxId: string) => boolean): Promise<void> {
    const before = this.ids.size;
    this.ids = new Set([...this.ids].filter(keep));
    if (this.ids.size !== before) await this.save();
  }

  private async save(): Promise<void> {
    await writeFileAtomic(this.file, JSON.stringify({ ids: [...this.ids] }) + '\n');
  }
}
