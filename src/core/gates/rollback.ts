import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { SandboxController } from '../controller';
import { describeError, isSandboxError } from '../errors';
import { readGatesConfig } from './config';
import { dropEarly } from './early';
import { freshSandboxesRemoved } from './freshRun';
import { appendLesson } from './lessons';
import { attemptGatesDir, failedSnapshotName, preTaskSnapshotName } from './paths';
import type { GateResult, GatedAttempt, JudgeDeps, Verdict } from './pipeline';
import type { GateLevel, GatePhase } from './types';

/**
 * The workspace is not touched. The agent's failed state is kept as a snapshot (older ones pruned
 * as the gates file says), and a lesson says what went wrong.
 */
export async function rollBack(
  deps: JudgeDeps,
  input: GatedAttempt,
  result: GateResult,
  level: GateLevel,
  reason: string,
  failing: Array<{ id: string; name?: string; message?: string; location?: { path: string; line: number } }>,
  note?: string,
  phase: GatePhase = 'failed',
): Promise<Verdict> {
  const name = failedSnapshotName(input.taskId, input.attempt);
  try {
    await deps.controller.removeSnapshot(name).catch((error) => {
      if (!isSandboxError(error, 'not-found')) throw error;
    });
    result.snapshots.failed = (await deps.controller.snapshot(input.record.id, { name })).name;
  } catch (error) {
    deps.log(`Task ${input.taskId}: the failed state could not be kept as a snapshot: ${describeError(error)}`);
  }
  if (input.keep) await resetKeptSandbox(deps, input);
  await appendLesson(deps.stateRoot, {
    time: new Date().toISOString(),
    taskId: input.taskId,
    attempt: input.attempt,
    ...(input.agentId ? { agentId: input.agentId } : {}),
    ...(input.title ? { title: input.title } : {}),
    level,
    reason,
    failingTests: failing.map((test) => ({
      id: test.id,
      ...(test.message ? { message: test.message } : {}),
      ...(test.location ? { location: test.location } : {}),
    })),
    lastOutput: input.lastOutput,
    diff: result.stats,
    ...(result.snapshots.failed ? { snapshot: result.snapshots.failed } : {}),
    ...(note ? { note } : {}),
  }).catch((error) => deps.log(`Task ${input.taskId}: the lesson could not be written: ${describeError(error)}`));
  await pruneFailedSnapshots(deps.controller, input.workspace).catch((error) => deps.log(`Pruning failed-state snapshots: ${describeError(error)}`));
  return { passed: false, phase, level, reason };
}

/** Keeps the newest failed-state snapshots the gates file allows; never touches a snapshot a person made. */
async function pruneFailedSnapshots(controller: SandboxController, workspace: string): Promise<void> {
  const config = await readGatesConfig(workspace).catch(() => undefined);
  const keep = config?.snapshots.keep ?? 10;
  const maxAgeMs = (config?.snapshots.maxAgeDays ?? 14) * 86_400_000;
  const failed = (await controller.listSnapshots())
    .filter((snapshot) => /^task-.*-failed$/.test(snapshot.name))
    .sort((a, b) => Date.parse(b.createdAt) - Date.parse(a.createdAt));
  for (const [index, snapshot] of failed.entries()) {
    // One in use (a sandbox opened from it) stays; the others are still pruned.
    if (index >= keep || Date.now() - Date.parse(snapshot.createdAt) > maxAgeMs) await controller.removeSnapshot(snapshot.name).catch(() => undefined);
  }
}

/** After the attempt's end is written: the early sandbox, the pre-task snapshot (once no sandbox uses it) and the local copies go. The result stays. */
export async function discardGateWork(controller: SandboxController, stateRoot: string, taskId: string, attempt: number): Promise<void> {
  await dropEarly(controller, taskId, attempt);
  await freshSandboxesRemoved(taskId);
  await controller.removeSnapshot(preTaskSnapshotName(taskId, attempt)).catch(() => undefined);
  const dir = attemptGatesDir(stateRoot, taskId, attempt);
  for (const part of ['base', 'after']) await fs.rm(path.join(dir, part), { recursive: true, force: true });
}

/**
 * A sandbox the task keeps (or a person's long-lived one) goes back to where the task started:
 * made again from the pre-task snapshot under the same name, cheaper than a new sandbox and a
 * push. It gets new keys, as every sandbox from a snapshot does.
 */
async function resetKeptSandbox(deps: JudgeDeps, input: GatedAttempt): Promise<void> {
  const { record } = input;
  try {
    await deps.controller.delete(record.id);
    await deps.controller.create({ fromSnapshot: input.base.snapshot, name: record.name, agentId: record.agentId });
    deps.log(`Task ${input.taskId}: ${record.name} is back at its state before the task.`);
  } catch (error) {
    deps.log(`Task ${input.taskId}: ${record.name} could not be reset to its state before the task: ${describeError(error)}`);
  }
}
