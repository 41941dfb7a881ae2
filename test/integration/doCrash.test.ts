import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import { CostLedger } from '../../src/core/cost/ledger';
import { startCloud, type StandInCloud } from '../doStandIn/harness';
import { CLI, runCli, tempDir } from './helpers';

/**
 * The CLI killed (SIGKILL) during a DigitalOcean create, at each step: the orphan is found by its
 * tag, priced in the ledger, and removed by `sandbox prune`, leaving nothing billed unseen.
 */
describe('a DigitalOcean create killed midway (integration)', function () {
  this.timeout(600_000);
  let cloud: StandInCloud;
  let stateDir: string;
  let env: NodeJS.ProcessEnv;

  before(async () => {
    cloud = await startCloud({ bootDroplets: true, bootDelayMs: 300, actionDelayMs: 300 });
    stateDir = tempDir('do-crash-');
    env = { AGENT_SANDBOXES_HOME: stateDir, DIGITALOCEAN_TOKEN: cloud.token, AGENT_SANDBOXES_DIGITALOCEAN_URL: cloud.apiUrl };
    // The daemon a completed cloud create starts keeps no warm Docker sandbox here: the state dir goes at the end.
    await fs.writeFile(`${stateDir}/tasks.json`, JSON.stringify({ pools: { default: { size: 0 } } }));
  });

  after(async () => {
    // A completed cloud create starts the state dir's daemon; it ends with the test.
    if (env) await runCli(['daemon', 'stop'], { env });
    await cloud?.close();
    if (stateDir) await fs.rm(stateDir, { recursive: true, force: true });
  });

  async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 120_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}.`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  const dropletsNamed = (name: string) => cloud.standIn.state.droplets({}).filter((droplet) => droplet.name === name);

  const steps: [string, (name: string) => boolean][] = [
    ['its droplet was asked for', () => cloud.standIn.requests.some((line) => line.startsWith('POST /v2/droplets '))],
    ['its droplet is booting', (name) => dropletsNamed(name).some((droplet) => droplet.status === 'new')],
    ['its droplet is up and the first connection runs', (name) => dropletsNamed(name).some((droplet) => droplet.status === 'active')],
  ];

  for (const [index, [step, reached]] of steps.entries()) {
    it(`finds, prices and removes what a create killed when ${step} left`, async () => {
      const name = `crash-${index}`;
      cloud.standIn.requests.length = 0;
      const child = spawn(process.execPath, [CLI, 'start', '--provider', 'digitalocean', '--name', name], { env: { ...process.env, ...env }, stdio: 'ignore' });
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      await until(step, () => reached(name));
      child.kill('SIGKILL');
      await exited;

      const listed = await runCli(['list', '--json'], { env });
      const sandboxes = JSON.parse(listed.stdout) as { name: string; state: string; problem?: string }[];
      const found = sandboxes.find((sandbox) => sandbox.name === name);
      assert.ok(found, `the interrupted create is listed: ${listed.stdout}`);
      assert.equal(found.state, 'error');
      assert.match(found.problem ?? '', /interrupted|prune/i);

      const entry = (await new CostLedger(stateDir, Date.now).load()).openMachineOf(name);
      assert.ok(entry, 'the machine is priced in the ledger from before the droplet existed');
      assert.ok(entry.usdPerHour > 0);
      const cost = await runCli(['cost', '--json'], { env });
      assert.equal(cost.code, 0, cost.stderr);
      assert.ok(cost.stdout.includes(name), 'the month shows it');

      const pruned = await runCli(['prune'], { env });
      assert.equal(pruned.code, 0, pruned.stderr);
      assert.deepEqual(dropletsNamed(name), [], 'no droplet of it is left');
      const after = await runCli(['list', '--json'], { env });
      assert.ok(!after.stdout.includes(`"${name}"`), 'no record of it is left');
      if (index > 0) assert.equal((await new CostLedger(stateDir, Date.now).load()).openMachineOf(name), undefined, 'its cost stopped with the droplet');
    });
  }

  it('takes in a droplet of ours without a record, with its price, and removes it', async () => {
    const made = await runCli(['start', '--provider', 'digitalocean', '--name', 'stray'], { env });
    assert.equal(made.code, 0, made.stderr);
    const records = await fs.readdir(`${stateDir}/sandboxes`);
    for (const file of records) {
      const text = await fs.readFile(`${stateDir}/sandboxes/${file}`, 'utf8').catch(() => '');
      if (text.includes('"stray"')) await fs.rm(`${stateDir}/sandboxes/${file}`);
    }
    const listed = await runCli(['list', '--json'], { env });
    const stray = (JSON.parse(listed.stdout) as { name: string; cloud?: { usdPerHour: number } }[]).find((sandbox) => sandbox.name === 'stray');
    assert.ok(stray, `the stray droplet is listed: ${listed.stdout}`);
    assert.ok((stray.cloud?.usdPerHour ?? 0) > 0, 'with its price');
    const removed = await runCli(['rm', 'stray'], { env });
    assert.equal(removed.code, 0, removed.stderr);
    assert.deepEqual(dropletsNamed('stray'), []);
  });
});
