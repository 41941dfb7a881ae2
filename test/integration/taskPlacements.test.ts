import * as assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import type { SshHost } from '../../src/core/hosts/registry';
import { TaskClient } from '../../src/core/tasks/client';
import type { Task } from '../../src/core/tasks/model';
import { Scheduler } from '../../src/core/tasks/scheduler';
import { TestEnvironment, ensureImage, uniqueName, waitFor } from './helpers';
import { addRootSshdHost, parseJson, removeHostContainers, startRootSshd, type RootSshd } from './sshHostFixtures';

/**
 * Two machines: the local engine and an SSH host with Docker. They are the same machine here, so
 * their capacities are declared, unequal: what is placed must follow the declared room.
 */
describe('tasks: placed over two machines by their room', function () {
  this.timeout(400_000);
  const env = new TestEnvironment();
  const hostName = uniqueName('taskhost');
  const hostKey = `ssh:${hostName}`;
  let sshd: RootSshd;
  let scheduler: Scheduler | undefined;
  const log: string[] = [];

  const configure = (placements: Record<string, { cpus: number; memory: string }>) =>
    writeFileSync(
      path.join(env.stateDir, 'tasks.json'),
      JSON.stringify({
        limits: { global: 12 },
        profiles: { one: { cpus: 1, memory: '256m' } },
        pools: { default: { size: 0 }, one: { size: 0, max: 12 } },
        placements,
        graceSeconds: 60,
      }),
    );

  before(async function () {
    await ensureImage();
    sshd = await startRootSshd();
    const added = parseJson<SshHost>(await addRootSshdHost(env, hostName, sshd, '--json'));
    assert.equal(added.docker, true);
  });
  afterEach(async () => {
    await scheduler?.stop();
    scheduler = undefined;
  });
  after(async () => {
    env.controller.dispose();
    await removeHostContainers(env, hostName);
    await env.dispose();
    await sshd?.stop();
  });

  const start = async () => {
    scheduler = new Scheduler({ controller: env.controller, stateRoot: env.stateDir, log: (line) => log.push(line), tickMs: 200 });
    await scheduler.start();
  };
  const placements = (tasks: Task[]) => tasks.map((task) => task.attempts[0]?.placement);
  const count = (tasks: Task[], key: string) => placements(tasks).filter((placement) => placement === key).length;

  it('spreads tasks in proportion to the declared room (2 and 6 CPUs), and a full machine receives nothing', async function () {
    configure({ docker: { cpus: 2, memory: '8g' }, [hostKey]: { cpus: 6, memory: '8g' } });
    await start();
    const client = new TaskClient(env.stateDir);
    const ids: string[] = [];
    // Long enough to be running all at once however slowly a busy machine places them; cancelled below.
    for (let i = 0; i < 8; i++) ids.push((await client.add({ command: 'sleep 600', profile: 'one', attempts: 1 })).task.id);
    const placed = await waitFor(
      () => {
        const tasks = ids.map((id) => client.resolve(id));
        return tasks.every((task) => task.state === 'running') ? tasks : undefined;
      },
      240_000,
      'eight running tasks',
    ).catch((error: Error) => {
      throw new Error(`${error.message}\n${log.join('\n')}`);
    });
    assert.equal(count(placed, 'docker'), 2, `placements: ${placements(placed).join(', ')}`);
    assert.equal(count(placed, hostKey), 6, `placements: ${placements(placed).join(', ')}`);
    // Both machines are full: a ninth task waits, placed nowhere.
    const { task: ninth } = await client.add({ command: 'true', profile: 'one', attempts: 1 });
    await new Promise((resolve) => setTimeout(resolve, 3000));
    assert.equal(client.resolve(ninth.id).state, 'queued');
    for (const id of ids) client.cancel(id);
    const done = await waitFor(
      () => (client.resolve(ninth.id).state === 'succeeded' ? client.resolve(ninth.id) : undefined),
      120_000,
      'the ninth task, once room came free',
    );
    assert.ok(['docker', hostKey].includes(done.attempts[0]!.placement!));
  });

  it('sends nothing to a machine too small for the profile, and everything to the other', async function () {
    // Sandboxes made for the first case's tasks that were cancelled meanwhile stayed as warm
    // pool sandboxes (on either machine): a claim would take them, so they go first.
    for (const record of await env.controller.list()) await env.controller.delete(record.id);
    configure({ docker: { cpus: 0.5, memory: '8g' }, [hostKey]: { cpus: 4, memory: '8g' } });
    await start();
    const client = new TaskClient(env.stateDir);
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await client.add({ command: 'echo ok', profile: 'one', attempts: 1 })).task.id);
    const tasks = await waitFor(
      () => {
        const now = ids.map((id) => client.resolve(id));
        return now.every((task) => task.state === 'succeeded') ? now : undefined;
      },
      180_000,
      'three tasks to succeed',
    );
    assert.deepEqual(placements(tasks), [hostKey, hostKey, hostKey]);
  });
});
