import type { SandboxController } from '../controller';
import { describeError } from '../errors';
import type { SandboxRecord } from '../model';
import { describeActivity, isBusy, probeActivity } from './activity';
import type { BackgroundWork } from './background';
import type { PlacementBoard } from './board';
import { poolAgentId, poolProfileOf, type Claims } from './claims';
import { findProfile, poolOf, type TasksConfig } from './config';
import { targetKeyOf, type PlacementView } from './placement';

export interface PoolDeps {
  controller: SandboxController;
  claims: Claims;
  board: PlacementBoard;
  log: (message: string) => void;
  /** Where refills, readiness checks and reaping are tracked, so the scheduler's stop waits for them. */
  background: BackgroundWork;
}

/** What `sandbox pool status` shows of one profile. */
export interface PoolStatus {
  profile: string;
  size: number;
  max: number;
  idleMinutes: number;
  warm: string[];
  busy: string[];
  creating: number;
}

/**
 * Per profile, sandboxes kept started and exec-ready for tasks to claim. A pool sandbox is one
 * whose agent id is `pool:<profile>`; warm means running and never claimed. Claiming is
 * bookkeeping (a claims file); refills and reaping run in the background.
 */
export class WarmPool {
  private readonly creating = new Map<string, number>();
  /** When each warm sandbox was last seen busy (or became warm): idle time counts from here. */
  private readonly lastBusy = new Map<string, number>();
  private readonly removing = new Set<string>();
  /** Sandboxes whose exec channel this process has opened: only these are warm (a claim then costs no start-up). */
  private readonly ready = new Set<string>();
  private readonly readying = new Set<string>();
  private reaping = false;

  constructor(private readonly deps: PoolDeps) {}

  /** Sandboxes of the pool of `profile`, running and never claimed. */
  warm(records: SandboxRecord[], profile: string): SandboxRecord[] {
    return records.filter(
      (record) =>
        record.agentId === poolAgentId(profile) &&
        record.state === 'running' &&
        this.ready.has(record.id) &&
        !this.deps.claims.has(record.id) &&
        !this.removing.has(record.id),
    );
  }

  /** Sandboxes of the pool of `profile` that exist (warm, claimed or being made), for its maximum. */
  members(records: SandboxRecord[], profile: string): number {
    const alive = records.filter((record) => record.agentId === poolAgentId(profile) && (record.state === 'running' || record.state === 'creating'));
    return alive.filter((record) => !this.removing.has(record.id)).length + (this.creating.get(profile) ?? 0);
  }

  /** Takes a warm sandbox for a task: the one on the machine with the most room, avoiding `avoid` when it can. */
  async claim(records: SandboxRecord[], profile: string, allowed: (placementKey: string) => boolean, avoid: Set<string>): Promise<SandboxRecord | undefined> {
    const candidates = this.warm(records, profile).filter((record) => allowed(targetKeyOf(record)));
    if (candidates.length === 0) return undefined;
    const preferred = candidates.filter((record) => !avoid.has(targetKeyOf(record)));
    const chosen = (preferred.length ? preferred : candidates)[0]!;
    await this.deps.claims.add(chosen.id);
    this.lastBusy.delete(chosen.id);
    return chosen;
  }

  /** Makes a sandbox of the profile on `view`; `claimed` ones go straight to a task. */
  async create(config: TasksConfig, profile: string, view: PlacementView): Promise<SandboxRecord> {
    const taskProfile = findProfile(config, profile);
    const release = this.deps.board.reserve(view.target.key, taskProfile);
    this.creating.set(profile, (this.creating.get(profile) ?? 0) + 1);
    try {
      return await this.deps.controller.create({
        agentId: poolAgentId(profile),
        provider: view.target.provider,
        host: view.target.host,
        profile: taskProfile.profile,
        buildImageIfMissing: true,
      });
    } finally {
      this.creating.set(profile, (this.creating.get(profile) ?? 1) - 1);
      release();
    }
  }

  /**
   * Refills every pool to its size (in the background), and destroys warm sandboxes above the
   * size that stayed idle for the pool's idleMinutes, after looking inside each.
   */
  maintain(config: TasksConfig, records: SandboxRecord[]): void {
    const profiles = new Set([...Object.keys(config.pools), ...records.map((r) => poolProfileOf(r.agentId)).filter((p): p is string => p !== undefined)]);
    for (const record of records) {
      if (poolProfileOf(record.agentId) !== undefined && record.state === 'running' && !this.ready.has(record.id) && !this.deps.claims.has(record.id)) {
        this.makeReady(record);
      }
    }
    for (const profile of profiles) {
      const settings = poolOf(config, profile);
      const warm = this.warm(records, profile);
      const now = Date.now();
      for (const record of warm) if (!this.lastBusy.has(record.id)) this.lastBusy.set(record.id, now);
      const readying = records.filter((r) => r.agentId === poolAgentId(profile) && this.readying.has(r.id)).length;
      const missing = settings.size - warm.length - readying - (this.creating.get(profile) ?? 0);
      const room = settings.max - this.members(records, profile);
      for (let i = 0; i < Math.min(missing, room); i++) this.refillOne(config, records, profile);
      if (warm.length > settings.size && !this.reaping) void this.deps.background.track(this.reapIdle(warm, settings.size, settings.idleMinutes));
    }
  }

  /** Opens the sandbox's exec channel (its first command starts it) so a claim finds it ready. */
  private makeReady(record: SandboxRecord): void {
    if (this.readying.has(record.id)) return;
    this.readying.add(record.id);
    this.deps.background
      .track(this.deps.controller.inspectExec(record.id, { command: ['true'], timeoutMs: 60_000 }))
      .then(
        (result) => {
          if (result.exitCode === 0) this.ready.add(record.id);
        },
        (error) => this.deps.log(`Pool: ${record.name} does not answer yet (${describeError(error)}).`),
      )
      .finally(() => this.readying.delete(record.id));
  }

  private refillOne(config: TasksConfig, records: SandboxRecord[], profile: string): void {
    let taskProfile;
    try {
      taskProfile = findProfile(config, profile);
    } catch (error) {
      this.deps.log(`Pool ${profile}: ${describeError(error)}`);
      return;
    }
    const view = this.deps.board.choose(records, taskProfile);
    if (!view) return; // no machine has room: the pool stays short until one has
    this.deps.background.track(this.create(config, profile, view)).then(
      (record) => {
        this.makeReady(record);
        this.deps.log(`Pool ${profile}: ${record.name} is warm on ${view.target.key}.`);
      },
      (error) => this.deps.log(`Pool ${profile}: could not make a sandbox on ${view.target.key}: ${describeError(error)}`),
    );
  }

  private async reapIdle(warm: SandboxRecord[], size: number, idleMinutes: number): Promise<void> {
    this.reaping = true;
    try {
      let above = warm.length - size;
      // Oldest idle first: they have waited longest for work.
      const ordered = [...warm].sort((a, b) => (this.lastBusy.get(a.id) ?? 0) - (this.lastBusy.get(b.id) ?? 0));
      for (const record of ordered) {
        if (above <= 0) break;
        const since = this.lastBusy.get(record.id) ?? Date.now();
        if (Date.now() - since < idleMinutes * 60_000) continue;
        let activity;
        try {
          activity = await probeActivity((request) => this.deps.controller.inspectExec(record.id, request));
        } catch (error) {
          this.deps.log(`Pool: could not look into ${record.name} (${describeError(error)}); it is kept.`);
          continue;
        }
        if (isBusy(activity)) {
          this.lastBusy.set(record.id, Date.now());
          this.deps.log(`Pool: ${record.name} is idle by the clock but holds ${describeActivity(activity)}; it is kept.`);
          continue;
        }
        if (this.deps.claims.has(record.id)) continue; // claimed while we looked
        this.removing.add(record.id);
        above -= 1;
        await this.deps.controller.delete(record.id).then(
          () => this.deps.log(`Pool: ${record.name} was idle for ${idleMinutes} min above the pool's size and is destroyed.`),
          (error) => this.deps.log(`Pool: could not destroy ${record.name}: ${describeError(error)}`),
        );
        this.removing.delete(record.id);
        this.lastBusy.delete(record.id);
      }
    } finally {
      this.reaping = false;
    }
  }

  status(config: TasksConfig, records: SandboxRecord[]): PoolStatus[] {
    const profiles = new Set([...Object.keys(config.pools), ...records.map((r) => poolProfileOf(r.agentId)).filter((p): p is string => p !== undefined)]);
    return [...profiles].sort().map((profile) => {
      const settings = poolOf(config, profile);
      const mine = records.filter((record) => record.agentId === poolAgentId(profile) && record.state === 'running');
      return {
        profile,
        ...settings,
        warm: this.warm(records, profile).map((record) => record.name),
        busy: mine.filter((record) => this.deps.claims.has(record.id)).map((record) => record.name),
        creating: this.creating.get(profile) ?? 0,
      };
    });
  }
}
