import type { SandboxRecord } from '../../core/model';
import type { Cockpit, SandboxFilter } from '../cockpit';
import { resolveTargets } from '../targets';

/** Shared by Start, Stop and Restart: each selected sandbox in turn, with progress, then one refresh. */
export async function runLifecycle(
  cockpit: Cockpit,
  args: { arg: unknown; selected: unknown },
  verb: { title: string; placeHolder: string; filter: SandboxFilter },
  step: (record: SandboxRecord, signal: AbortSignal) => Promise<unknown>,
): Promise<SandboxRecord[]> {
  const targets = await resolveTargets(cockpit, args.arg, args.selected, verb.placeHolder, verb.filter);
  if (targets.length === 0) return [];
  const programmatic = typeof args.arg === 'string';
  let current: SandboxRecord | undefined;
  try {
    await cockpit.withProgress(`${verb.title} ${targets.map((record) => record.name).join(', ')}`, async (signal) => {
      for (const record of targets) {
        current = record;
        await step(record, signal);
        cockpit.log.info(`${verb.title}: ${record.name} done`);
      }
    });
  } catch (error) {
    if (programmatic) throw error;
    await cockpit.showError(error, current);
  } finally {
    await cockpit.refresh();
  }
  return targets;
}
