import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { SandboxError } from '../errors';
import { readJsonFile } from '../store/files';
import { unifiedDiff } from './change/patch';
import { attemptGatesDir } from './paths';
import type { GateResult } from './pipeline';
import type { Patch } from './types';

/** What the gates decided about an attempt's change, or undefined when they have not looked at it. */
export async function readGateResult(stateRoot: string, taskId: string, attempt: number): Promise<GateResult | undefined> {
  const result = await readJsonFile<GateResult>(path.join(attemptGatesDir(stateRoot, taskId, attempt), 'result.json')).catch(() => undefined);
  return result && typeof result.phase === 'string' && Array.isArray(result.changes) ? result : undefined;
}

/**
 * The change of an attempt as the gates keep it while it waits for a decision: both sides on
 * disk (the base as pushed, the sandbox's tree as pulled) and what differs.
 */
export async function changeUnderReview(stateRoot: string, taskId: string, attempt: number): Promise<Patch> {
  const result = await readGateResult(stateRoot, taskId, attempt);
  const dir = attemptGatesDir(stateRoot, taskId, attempt);
  const patch: Patch | undefined = result && {
    baseDir: path.join(dir, 'base'),
    afterDir: path.join(dir, 'after'),
    changes: result.changes,
    stats: result.stats,
  };
  if (!patch || !existsSync(patch.baseDir) || !existsSync(patch.afterDir)) {
    throw new SandboxError('not-found', `The change of task ${taskId} is no longer kept (its gates have decided); see \`sandbox task show ${taskId}\`.`);
  }
  return patch;
}

/** The change as one unified diff, for a terminal. */
export async function reviewDiffText(stateRoot: string, taskId: string, attempt: number): Promise<string> {
  return unifiedDiff(await changeUnderReview(stateRoot, taskId, attempt));
}
