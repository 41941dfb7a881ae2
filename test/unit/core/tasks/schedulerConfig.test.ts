import * as assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DEFAULT_POOL_SIZE, readSchedulerConfig, readTasksConfig } from '../../../../src/core/tasks/config';
import { TaskClient } from '../../../../src/core/tasks/client';
import { TaskQueue } from '../../../../src/core/tasks/queue';

describe('the default warm pool waits for the state dir’s first task', function () {
  let root: string;

  beforeEach(() => (root = mkdtempSync(path.join(os.tmpdir(), 'scheduler-config-'))));
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('keeps no warm sandbox before the first task, and the configured size from then on', async function () {
    assert.equal((await readSchedulerConfig(root)).pools.default?.size, 0, 'a daemon started for cloud sandboxes makes no containers');
    assert.equal((await readTasksConfig(root)).pools.default?.size, DEFAULT_POOL_SIZE, 'the settings themselves are unchanged (pool set writes them back)');
    new TaskQueue(root).load();
    assert.equal((await readSchedulerConfig(root)).pools.default?.size, 0, 'a queue opened with no task in it is not a first task');
    await new TaskClient(root).add({ command: ['true'] });
    assert.equal((await readSchedulerConfig(root)).pools.default?.size, DEFAULT_POOL_SIZE);
  });

  it('keeps a default pool that tasks.json sets, task or not, and other pools as set', async function () {
    writeFileSync(path.join(root, 'tasks.json'), JSON.stringify({ pools: { default: { size: 3 }, small: { size: 1 } } }));
    const config = await readSchedulerConfig(root);
    assert.equal(config.pools.default?.size, 3);
    assert.equal(config.pools.small?.size, 1);
  });
});
