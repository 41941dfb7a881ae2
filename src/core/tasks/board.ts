import type { SandboxController } from '../controller';
import { describeError } from '../errors';
import type { SandboxRecord } from '../model';
import { DEFAULT_PROFILE_LIMITS } from '../profile';
import type { TaskProfile, TasksConfig } from './config';
import { choosePlacement, listPlacementTargets, measurePlacement, reservedByTarget, type PlacementView, type Resources } from './placement';

/** How often machines are measured again (their load changes; their capacity rarely). */
const MEASURE_EVERY_MS = 10_000;

/**
 * The machines the scheduler may place on, with what each holds: measured now and then, and the
 * reservations of sandboxes being made (not yet in any record) added in between.
 */
export class PlacementBoard {
  private views: PlacementView[] = [];
  private measuredAt = 0;
  private measuring?: Promise<void>;
  private readonly inFlight = new Map<string, Resources[]>();

  constructor(
    private readonly controller: SandboxController,
    private readonly log: (message: string) => void,
  ) {}

  /** Measures again when due; the first call waits for it, later ones use what was measured. */
  async refresh(config: TasksConfig, force = false): Promise<void> {
    if (!force && Date.now() - this.measuredAt < MEASURE_EVERY_MS && this.views.length > 0) return;
    this.measuring ??= this.measure(config).finally(() => (this.measuring = undefined));
    if (this.views.length === 0 || force) await this.measuring;
  }

  private async measure(config: TasksConfig): Promise<void> {
    try {
      const targets = await listPlacementTargets(this.controller);
      const measured = await Promise.all(targets.map((target) => measurePlacement(this.controller, target, config.placements[target.key])));
      const before = new Map(this.views.map((view) => [view.target.key, view.reachable]));
      this.views = measured.map((view) => ({ ...view, reserved: { cpus: 0, memory: 0 } }));
      for (const view of this.views) {
        if (before.get(view.target.key) !== view.reachable) {
          this.log(
            view.reachable
              ? `Placement ${view.target.key}: ${view.capacity.cpus} CPUs, ${Math.round(view.capacity.memory / 1024 ** 2)} MiB.`
              : `Placement ${view.target.key} does not answer: ${view.problem ?? ''}`,
          );
        }
      }
      this.measuredAt = Date.now();
    } catch (error) {
      this.log(`Could not measure the machines: ${describeError(error)}`);
    }
  }

  /** Where a sandbox of this profile would go now, given the records (what is already placed). */
  choose(
    records: SandboxRecord[],
    taskProfile: TaskProfile,
    options: { avoid?: Set<string>; allowed?: (key: string) => boolean } = {},
  ): PlacementView | undefined {
    const reserved = reservedByTarget(records.filter((record) => record.state === 'running' || record.state === 'creating'));
    const candidates = this.views
      .filter((view) => matches(view, taskProfile) && (options.allowed?.(view.target.key) ?? true))
      .map((view) => {
        const base = reserved.get(view.target.key) ?? { cpus: 0, memory: 0 };
        const pending = this.inFlight.get(view.target.key) ?? [];
        return {
          ...view,
          reserved: pending.reduce((sum, r) => ({ cpus: sum.cpus + r.cpus, memory: sum.memory + r.memory }), base),
        };
      });
    const demand = demandOf(taskProfile);
    const fresh = candidates.filter((view) => !options.avoid?.has(view.target.key));
    return choosePlacement(fresh, demand) ?? choosePlacement(candidates, demand);
  }

  /**
   * Why no machine could ever take a sandbox of this profile (each is too small even when empty),
   * or undefined when one could, or when none answers now (then it may, later).
   */
  neverFits(taskProfile: TaskProfile): string | undefined {
    const named = this.views.filter((view) => matches({ ...view, reachable: true }, taskProfile));
    if (this.views.length > 0 && named.length === 0) {
      return `No machine is ${taskProfile.host ? `the host ${taskProfile.host}` : `of the ${taskProfile.provider} provider`}; add it with \`sandbox host add\`, or change the profile in tasks.json.`;
    }
    const reachable = named.filter((view) => view.reachable);
    if (reachable.length === 0) return undefined;
    const demand = demandOf(taskProfile);
    const empty = reachable.map((view) => ({ ...view, reserved: { cpus: 0, memory: 0 } }));
    if (choosePlacement(empty, demand)) return undefined;
    const largest = reachable.map((view) => `${view.target.key} ${view.capacity.cpus} CPUs, ${Math.round(view.capacity.memory / 1024 ** 2)} MiB`).join('; ');
    return `No machine can hold a sandbox of ${demand.cpus} CPUs and ${Math.round(demand.memory / 1024 ** 2)} MiB (${largest}); give the profile less, or declare a machine's capacity in tasks.json.`;
  }

  /** Holds the room of a sandbox being made until `release` (its record then holds it). */
  reserve(key: string, taskProfile: TaskProfile): () => void {
    const demand = demandOf(taskProfile);
    const list = this.inFlight.get(key) ?? [];
    list.push(demand);
    this.inFlight.set(key, list);
    return () => {
      const index = list.indexOf(demand);
      if (index >= 0) list.splice(index, 1);
    };
  }

  snapshot(): PlacementView[] {
    return this.views;
  }
}

function matches(view: PlacementView, taskProfile: TaskProfile): boolean {
  if (!view.reachable) return false;
  if (taskProfile.provider && view.target.provider !== taskProfile.provider) return false;
  if (taskProfile.host && view.target.host !== taskProfile.host) return false;
  return true;
}

export function demandOf(taskProfile: TaskProfile): Resources {
  return { cpus: taskProfile.profile.cpus ?? DEFAULT_PROFILE_LIMITS.cpus, memory: taskProfile.profile.memory ?? DEFAULT_PROFILE_LIMITS.memory };
}
