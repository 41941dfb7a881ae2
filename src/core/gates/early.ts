import type { SandboxController } from '../controller';
import type { SandboxRecord } from '../model';
import { baseRun, createFresh, type BaseRun, type CheckSpecs, type FreshSource } from './freshRun';

/**
 * What the gates start as soon as the pre-task snapshot exists, while the task's command runs:
 * the sandbox L0 will run in, made and started, and the base's run for L1. A verdict then waits
 * only for the checks on the change. Held in this process (the daemon); after a restart the
 * judgement makes them again, and the scheduler's sweep removes what the old process left.
 */
interface EarlyWork {
  l0: Promise<SandboxRecord>;
  base: Promise<BaseRun>;
  specs: string;
}

const started = new Map<string, EarlyWork>();
const keyOf = (taskId: string, attempt: number) => `${taskId}/${attempt}`;

export function startEarly(controller: SandboxController, stateRoot: string, attempt: number, source: FreshSource, specs: CheckSpecs): void {
  const l0 = createFresh(controller, source);
  const base = baseRun(controller, stateRoot, source, specs);
  // Their failures are met (and told) where they are used; the judgement falls back to doing the work itself.
  l0.catch(() => undefined);
  base.catch(() => undefined);
  started.set(keyOf(source.taskId, attempt), { l0, base, specs: JSON.stringify(specs) });
}

/** The early work of an attempt, when it was started for the same checks; the caller owns it from here. */
export function takeEarly(
  controller: SandboxController,
  taskId: string,
  attempt: number,
  specs: CheckSpecs,
): { l0: Promise<SandboxRecord>; base: Promise<BaseRun> } | undefined {
  const key = keyOf(taskId, attempt);
  const work = started.get(key);
  started.delete(key);
  if (!work) return undefined;
  if (work.specs === JSON.stringify(specs)) return work;
  // The gates file changed while the task ran: this work checked something else.
  void dropWork(controller, work);
  return undefined;
}

/** An attempt that ends without a judgement (its command failed, it was cancelled): its early sandbox goes. */
export async function dropEarly(controller: SandboxController, taskId: string, attempt: number): Promise<void> {
  const key = keyOf(taskId, attempt);
  const work = started.get(key);
  started.delete(key);
  if (work) await dropWork(controller, work);
}

async function dropWork(controller: SandboxController, work: EarlyWork): Promise<void> {
  const record = await work.l0.catch(() => undefined);
  if (record) await controller.delete(record.id).catch(() => undefined);
  await work.base.catch(() => undefined);
}
