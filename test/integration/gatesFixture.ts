import { createHash } from 'node:crypto';
import { promises as fs, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import type { SandboxController } from '../../src/core/controller';
import { TaskClient } from '../../src/core/tasks/client';
import type { Task } from '../../src/core/tasks/model';
import { REPO_ROOT, tempDir, waitFor } from './helpers';

/** The fixture project: a Python and a JavaScript suite, and a gates file. */
export const GATES_FIXTURE = path.join(REPO_ROOT, 'test', 'fixtures', 'gates', 'workspace');

/** A fresh copy of the fixture project: each case has a workspace of its own. */
export async function fixtureWorkspace(): Promise<string> {
  const workspace = tempDir('gates-ws-');
  await fs.cp(GATES_FIXTURE, workspace, { recursive: true });
  return workspace;
}

/** Small sandboxes, no warm pool: each task gets a sandbox made for it. */
export function writeTasksConfig(stateDir: string): void {
  writeFileSync(
    path.join(stateDir, 'tasks.json'),
    JSON.stringify({
      limits: { global: 6 },
      profiles: { default: { cpus: 1, memory: '1g' } },
      pools: { default: { size: 0, max: 8 } },
      placements: { docker: { cpus: 16, memory: '32g' } },
    }),
  );
}

/**
 * Every entry of a tree (type, mode, content or link target), hashed: equal hashes mean the tree
 * is byte for byte the same, which "the workspace is unchanged" asserts.
 */
export async function treeHash(root: string): Promise<string> {
  const hash = createHash('sha256');
  const walk = async (dir: string): Promise<void> => {
    const entries = (await fs.readdir(dir, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name));
    for (const entry of entries) {
      const full = path.join(dir, entry.name);
      const info = await fs.lstat(full);
      hash.update(`${path.relative(root, full)}\0${info.mode}\0`);
      if (entry.isSymbolicLink()) hash.update(await fs.readlink(full));
      else if (entry.isFile()) hash.update(await fs.readFile(full));
      else if (entry.isDirectory()) await walk(full);
      hash.update('\0');
    }
  };
  await walk(root);
  return hash.digest('hex');
}

/** Waits until the task has finished, or its change waits for a person. */
export function untilDecided(client: TaskClient, id: string, log: string[], timeoutMs = 240_000): Promise<Task> {
  return waitFor(
    () => {
      const task = client.resolve(id);
      const reviewing = task.gate?.phase === 'review' && !task.gate.review;
      return ['succeeded', 'failed', 'cancelled'].includes(task.state) || reviewing ? task : undefined;
    },
    timeoutMs,
    `task ${id} to be decided`,
  ).catch((error: Error) => {
    throw new Error(`${error.message}\n${log.slice(-30).join('\n')}`);
  });
}

/** Removes every snapshot the tests made (the engine keeps them as images otherwise). */
export async function removeSnapshots(controller: SandboxController): Promise<void> {
  for (const snapshot of await controller.listSnapshots().catch(() => [])) await controller.removeSnapshot(snapshot.name).catch(() => undefined);
}
