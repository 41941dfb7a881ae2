import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { SandboxController } from '../controller';
import { isSandboxError, SandboxError } from '../errors';
import type { SandboxRecord } from '../model';
import { readJsonFile, writeFileAtomic } from '../store/files';
import { createTreeFilter } from '../sync';
import type { Manifest } from '../sync/manifest';
import { copyTree } from './change/patch';
import { readGatesConfig } from './config';
import { startEarly } from './early';
import { attemptGatesDir, preTaskSnapshotName } from './paths';

/** What a gated attempt starts from: the pushed copy of the workspace and the snapshot after the push. */
export interface GateBase {
  workspace: string;
  baseDir: string;
  snapshot: string;
  /** What the push left in the sandbox, so sandboxes made from the snapshot only receive the difference. */
  manifest: Manifest;
  createdAt: string;
}

const BASE_FILE = 'base.json';

/**
 * Before a gated task's command: copies the workspace (what is pushed is exactly this copy, so an
 * edit the user makes meanwhile is not mistaken for the agent's), pushes it, and snapshots the
 * sandbox. Safe to run again after a crash: it starts over.
 */
export async function prepareGatedAttempt(
  controller: SandboxController,
  stateRoot: string,
  attempt: { taskId: string; number: number; workspace: string },
  record: SandboxRecord,
  signal?: AbortSignal,
): Promise<GateBase> {
  const dir = attemptGatesDir(stateRoot, attempt.taskId, attempt.number);
  const baseDir = path.join(dir, 'base');
  await fs.rm(dir, { recursive: true, force: true });
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  await copyTree(attempt.workspace, baseDir, createTreeFilter(attempt.workspace));
  await controller.push(record.id, { localRoot: baseDir, signal });
  const manifest = await controller.pushedManifest(record.id, baseDir);
  if (!manifest) throw new SandboxError('conflict', `The push of ${attempt.workspace} into ${record.name} left no record; try the task again.`);
  const name = preTaskSnapshotName(attempt.taskId, attempt.number);
  await controller.removeSnapshot(name).catch((error) => {
    if (!isSandboxError(error, 'not-found')) throw error;
  });
  const snapshot = await controller.snapshot(record.id, { name });
  const base: GateBase = { workspace: attempt.workspace, baseDir, snapshot: snapshot.name, manifest, createdAt: new Date().toISOString() };
  await writeFileAtomic(path.join(dir, BASE_FILE), JSON.stringify(base));
  // While the command runs: the sandbox L0 will use, and the base's run for L1. Without a valid
  // gates file there is nothing to start; the judgement says what is wrong with it.
  const config = await readGatesConfig(attempt.workspace).catch(() => undefined);
  if (config && config.l0.length > 0) {
    const source = { snapshot: base.snapshot, origin: record, baseManifest: manifest, baseDir, taskId: attempt.taskId };
    startEarly(controller, stateRoot, attempt.number, source, { tests: config.l0, lint: config.lint });
  }
  return base;
}

/** The base of an attempt prepared earlier (by this process or one that died), or undefined. */
export async function readGateBase(stateRoot: string, taskId: string, attempt: number): Promise<GateBase | undefined> {
  const base = await readJsonFile<GateBase>(path.join(attemptGatesDir(stateRoot, taskId, attempt), BASE_FILE)).catch(() => undefined);
  return base && typeof base.snapshot === 'string' && typeof base.baseDir === 'string' && base.manifest ? base : undefined;
}
