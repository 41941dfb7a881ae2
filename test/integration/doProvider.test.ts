import * as assert from 'node:assert/strict';
import { mkdtempSync, promises as fs, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { SandboxController } from '../../src/core/controller';
import { HOUR_MS } from '../../src/core/cost/billing';
import { CostEnforcer } from '../../src/core/cost/enforcer';
import { extendTimeToLive } from '../../src/core/cost/extend';
import { CostLedger } from '../../src/core/cost/ledger';
import { addToRecordedTtl } from '../../src/core/cost/recordedTtl';
import { isSandboxError } from '../../src/core/errors';
import type { SandboxRecord } from '../../src/core/model';
import { CLOUD_INIT_OUTPUT_LOG, MAX_LOG_LINE_CHARS } from '../../src/core/providers/digitalocean/dropletLogs';
import { DigitalOceanProvider } from '../../src/core/providers/digitalocean/provider';
import { readBudgetSettings, writeMonthlyBudget } from '../../src/core/cost/settings';
import { StateStore } from '../../src/core/store/stateStore';
import { startCloud, type StandInCloud } from '../doStandIn/harness';
import { docker } from './helpers';

/**
 * The DigitalOcean provider end to end against the stand-in behind Prism (DigitalOcean's own
 * contract): every droplet is a real container booted by the real cloud-init from our user data,
 * reached over SSH on its own 127.0.1.N.
 */
describe('DigitalOcean provider against the stand-in (integration)', function () {
  this.timeout(600_000);
  let cloud: StandInCloud;
  let stateDir: string;
  let controller: SandboxController;
  let provider: DigitalOceanProvider;
  let sandbox: SandboxRecord;

  function makeController(
    env: NodeJS.ProcessEnv,
    fetch: (request: Request) => Promise<Response> = cloud.fetch,
  ): { controller: SandboxController; provider: DigitalOceanProvider } {
    const made = new DigitalOceanProvider({ stateRoot: stateDir, env, fetch, timing: { pollMs: 250, maxPollMs: 1000, bootTimeoutMs: 180_000 } });
    return { controller: new SandboxController({ store: new StateStore(stateDir), providers: { digitalocean: made } }), provider: made };
  }

  before(async () => {
    cloud = await startCloud({ bootDroplets: true, bootDelayMs: 500, actionDelayMs: 500 });
    stateDir = mkdtempSync(path.join(os.tmpdir(), 'do-provider-'));
    ({ controller, provider } = makeController({ DIGITALOCEAN_TOKEN: cloud.token, AGENT_SANDBOXES_DIGITALOCEAN_URL: cloud.apiUrl }));
  });

  afterEach(function () {
    // Every exchange kept DigitalOcean's contract (Prism in front of the stand-in says so otherwise).
    assert.deepEqual(cloud.contractViolations, []);
  });

  after(async () => {
    controller?.dispose();
    await cloud?.close();
    if (stateDir) await fs.rm(stateDir, { recursive: true, force: true });
  });

  it('makes a droplet from user data, pins its key before the first connection and replaces it over that connection', async () => {
    const began = Date.now();
    sandbox = await controller.create({ provider: 'digitalocean', name: 'do-first', cloud: { region: 'nyc3', ttlMs: 3 * HOUR_MS } });
    const tookMs = Date.now() - began;
    assert.equal(sandbox.state, 'running');
    assert.match(sandbox.ssh?.host ?? '', /^127\.0\.1\.\d+$/);
    assert.match(sandbox.providerRef ?? '', /^droplet:\d+$/);
    assert.equal(sandbox.cloud?.region, 'nyc3');
    assert.equal(sandbox.cloud?.size, 's-1vcpu-2gb');
    assert.ok((sandbox.cloud?.usdPerHour ?? 0) > 0);
    assert.equal(sandbox.cloud?.ttlMs, 3 * HOUR_MS, 'the time-to-live is kept on the record');

    const droplet = cloud.standIn.state.droplets({}).find((candidate) => candidate.name === 'do-first')!;
    // Read as root from the droplet's seed (test equipment's view; the agent cannot, see the next case).
    const seed = await docker
      .getContainer(cloud.machines!.containerOf(droplet.id)!)
      .exec({ Cmd: ['cat', '/var/lib/cloud/seed/nocloud/user-data'], AttachStdout: true, Tty: true });
    const userData = await new Promise<string>((resolve, reject) =>
      seed.start({}, (error, stream) => {
        if (error || !stream) return reject(error ?? new Error('no stream'));
        const chunks: Buffer[] = [];
        stream.on('data', (chunk: Buffer) => chunks.push(chunk));
        stream.on('end', () => resolve(Buffer.concat(chunks).toString('latin1')));
      }),
    );
    const userDataKey = /ed25519_public: "?(ssh-ed25519 [A-Za-z0-9+/=]+)/.exec(userData)?.[1];
    assert.ok(userDataKey, 'the user data carried a host key');
    assert.ok(!userData.includes(cloud.token) && !JSON.stringify(droplet.tags).includes(cloud.token), 'the token is in neither the user data nor the tags');
    const pinned = sandbox.ssh!.hostKey.split(' ').slice(0, 2).join(' ');
    assert.notEqual(pinned, userDataKey, 'the key that travelled in the user data is no longer the pinned one');

    const served = await controller.exec('do-first', { command: ['cat', '/etc/ssh/ssh_host_ed25519_key.pub'] });
    assert.equal(served.stdout.split(' ').slice(0, 2).join(' '), pinned);
    const who = await controller.exec('do-first', { command: 'id -un; cloud-init status' });
    assert.equal(who.exitCode, 0, who.stderr);
    assert.match(who.stdout, /^agent\nstatus: done/);
    process.stdout.write(`      create to ready: ${tookMs} ms\n`);
  });

  it('keeps the user data from the agent: the metadata address is refused to it and the one-time rekey is gone', async () => {
    const metadata = await controller.exec('do-first', {
      command: 'python3 -c "import urllib.request; print(urllib.request.urlopen(\'http://169.254.169.254/metadata/v1/user-data\', timeout=5).read()[:20])"',
    });
    assert.notEqual(metadata.exitCode, 0, 'the agent read the user data');
    assert.match(metadata.stderr, /Connection refused|Errno 111/);
    const rekey = await controller.exec('do-first', { command: 'sudo -n /usr/local/sbin/sandbox-rekey < /dev/null' });
    assert.notEqual(rekey.exitCode, 0);
    const passwords = await controller.exec('do-first', {
      command: 'sshd -T 2>/dev/null | grep -Ei "^(passwordauthentication|permitrootlogin) " || cat /etc/ssh/sshd_config.d/sandbox.conf',
    });
    assert.match(passwords.stdout, /PasswordAuthentication no/i);
    assert.match(passwords.stdout, /PermitRootLogin no/i);
  });

  it('syncs files both ways over the droplet SSH connection, and lists it with its price from the ledger', async () => {
    const local = mkdtempSync(path.join(os.tmpdir(), 'do-push-'));
    writeFileSync(path.join(local, 'hello.py'), 'print("hello from the droplet")\n');
    await controller.push('do-first', { localRoot: local });
    const run = await controller.exec('do-first', { command: 'python3 hello.py > out.txt && cat out.txt' });
    assert.equal(run.stdout, 'hello from the droplet\n');
    const back = mkdtempSync(path.join(os.tmpdir(), 'do-pull-'));
    await controller.pull('do-first', { localRoot: back });
    assert.equal(readFileSync(path.join(back, 'out.txt'), 'utf8'), 'hello from the droplet\n');
    const listed = (await controller.list()).find((record) => record.name === 'do-first');
    assert.equal(listed?.state, 'running');
    const entry = (await new CostLedger(stateDir, Date.now).load()).openMachineOf('do-first');
    assert.equal(entry?.size, 's-1vcpu-2gb');
    assert.equal(entry?.usdPerHour, sandbox.cloud?.usdPerHour);
  });

  it("prints the droplet's system log over SSH: cloud-init's output (no systemd here), a hostile line cut and made visible, the tail, and lines as they come", async () => {
    const droplet = cloud.standIn.state.droplets({}).find((candidate) => candidate.name === 'do-first')!;
    const container = cloud.machines!.containerOf(droplet.id)!;
    // Written as root from outside (test equipment): what a hostile process on the droplet could log.
    const hostile = "'\\x1b]0;owned\\x07\\x1b[2Khidden\\u202eevil\\u2028' + 'x' * 5000";
    await rootInDroplet(container, `open('${CLOUD_INIT_OUTPUT_LOG}', 'a').write(${hostile} + '\\nafter the hostile line\\n')`);

    const whole: string[] = [];
    for await (const entry of controller.logs('do-first')) if (entry.source === 'sandbox') whole.push(entry.text);
    assert.ok(
      whole.some((line) => /Cloud-init v\. .* finished/.test(line)),
      `cloud-init's own output is there:\n${whole.slice(-5).join('\n')}`,
    );
    const tail = [];
    for await (const entry of controller.logs('do-first', { tail: 2 })) tail.push(entry);
    assert.deepEqual(
      tail.map((entry) => entry.source),
      ['sandbox', 'sandbox'],
    );
    const [cut, after] = tail.map((entry) => (entry.source === 'sandbox' ? entry.text : ''));
    assert.equal(after, 'after the hostile line');
    const visible = '\\x1b]0;owned\\x07\\x1b[2Khidden\\u202eevil\\u2028';
    // 4096 of the droplet's characters (26 of them the start above), then the mark of the cut.
    assert.equal(cut, `${visible}${'x'.repeat(MAX_LOG_LINE_CHARS - 26)}…`);
    assert.doesNotMatch(cut!, /[\u0000-\u001f\u2028\u202e]/);

    // Followed: a line logged now arrives; aborting (as Ctrl-C does) ends the stream.
    const abort = new AbortController();
    const giveUp = setTimeout(() => abort.abort(), 60_000);
    let arrivedAfterMs: number | undefined;
    let written = 0;
    const following = (async () => {
      for await (const entry of controller.logs('do-first', { follow: true, tail: 0, signal: abort.signal })) {
        if (entry.source === 'sandbox' && entry.text === 'a line while following') {
          arrivedAfterMs = Date.now() - written;
          abort.abort();
        }
      }
    })();
    await new Promise((resolve) => setTimeout(resolve, 2000));
    written = Date.now();
    await rootInDroplet(container, `open('${CLOUD_INIT_OUTPUT_LOG}', 'a').write('a line while following\\n')`);
    await following;
    clearTimeout(giveUp);
    assert.ok(arrivedAfterMs !== undefined && arrivedAfterMs < 10_000, `the line logged while following arrived (after ${arrivedAfterMs} ms)`);
  });

  it('hibernates to a snapshot (no droplet left billing) and restores under the same name with the same host key, files and time-to-live', async () => {
    // `sandbox extend do-first 1h`, as the CLI does it: the ledger entry and the record.
    await extendTimeToLive(new CostLedger(stateDir, Date.now), 'do-first', HOUR_MS, await readBudgetSettings(stateDir), Date.now());
    await addToRecordedTtl(new StateStore(stateDir), sandbox.id, HOUR_MS);
    // A first hibernation whose droplet delete fails (the API down for it), after its snapshot was made.
    let failDeletes = true;
    const flaky = makeController({ DIGITALOCEAN_TOKEN: cloud.token, AGENT_SANDBOXES_DIGITALOCEAN_URL: cloud.apiUrl }, async (request) => {
      if (failDeletes && request.method === 'DELETE' && /\/v2\/droplets\/\d+$/.test(new URL(request.url).pathname)) {
        return new Response(JSON.stringify({ id: 'server_error', message: 'Server Error' }), { status: 503, headers: { 'content-type': 'application/json' } });
      }
      return cloud.fetch(request);
    });
    try {
      await assert.rejects(flaky.controller.hibernate('do-first'), /HTTP 503/);
    } finally {
      failDeletes = false;
      flaky.controller.dispose();
    }
    const ours = () => cloud.standIn.state.snapshots().filter((snapshot) => snapshot.name.includes(sandbox.id));
    assert.equal(ours().length, 1, 'the failed hibernation made its snapshot');
    // Tried again: the snapshot made already is the one kept, not a second of the same name.
    const hibernated = await controller.hibernate('do-first');
    assert.equal(ours().length, 1, 'a retried hibernation leaves exactly one snapshot');
    assert.equal(hibernated.state, 'stopped');
    assert.match(hibernated.providerRef ?? '', /^hibernated:/);
    assert.equal(cloud.standIn.state.droplets({}).filter((droplet) => droplet.name === 'do-first').length, 0, 'the droplet is destroyed');
    const book = await new CostLedger(stateDir, Date.now).load();
    assert.equal(book.openMachineOf('do-first'), undefined, 'the machine no longer costs');
    assert.equal(book.storedSnapshots().length, 1);

    const restored = await controller.start('do-first');
    assert.equal(restored.state, 'running');
    assert.equal(restored.ssh?.hostKey, sandbox.ssh?.hostKey, 'the same pinned key answers');
    const kept = await controller.exec('do-first', { command: 'cat out.txt' });
    assert.equal(kept.stdout, 'hello from the droplet\n');
    assert.equal(cloud.standIn.state.snapshots().length, 0, 'the snapshot goes once the droplet is back');
    const reopened = (await new CostLedger(stateDir, Date.now).load()).openMachineOf('do-first');
    assert.equal(reopened!.untilMs - reopened!.openedMs, 4 * HOUR_MS, 'restored with its own time-to-live (3 h made, 1 h added), not the default');
    assert.equal(restored.cloud?.ttlMs, 4 * HOUR_MS);
  });

  it('refuses bad input in one sentence with nothing made: unknown region or size, a size not in the region, a GPU without yes, past the budget', async () => {
    const before = cloud.standIn.state.droplets({}).length;
    const attempts: [Parameters<SandboxController['create']>[0], RegExp][] = [
      [{ cloud: { region: 'mars1' } }, /no available region "mars1"; pick one of/],
      [{ cloud: { size: 's-64vcpu-1tb' } }, /no available size "s-64vcpu-1tb"/],
      [{ cloud: { region: 'fra1', gpu: 'h100' } }, /No h100 GPU size is offered in fra1/],
      [{ cloud: { region: 'fra1', size: 'gpu-h100x1-80gb' } }, /The size gpu-h100x1-80gb is not offered in fra1; it is in nyc3, ams3: pick another region/],
      [{ cloud: { region: 'nyc3', gpu: 'h100' } }, /is a GPU size; nothing was made: confirm that price/],
      [{ cloud: { budgetUsd: 0.01 } }, /budget/i],
    ];
    for (const [options, expected] of attempts) {
      await assert.rejects(controller.create({ provider: 'digitalocean', name: 'do-refused', ...options }), (error: Error) => {
        assert.ok(isSandboxError(error), String(error));
        assert.match(error.message, expected);
        assert.equal(error.message.split(/[.;:] [A-Z]/).length >= 1, true);
        return true;
      });
    }
    assert.equal(cloud.standIn.state.droplets({}).length, before, 'nothing was made');
    assert.equal((await controller.list()).filter((record) => record.name === 'do-refused').length, 0, 'no record was left');
    await writeMonthlyBudget(stateDir, 0.001);
    await assert.rejects(controller.create({ provider: 'digitalocean', name: 'do-refused' }), /budget/i);
    await writeMonthlyBudget(stateDir, 50);
  });

  it('rides out a 429 burst, says an API that is down in one sentence, and keeps a create it cannot clean up as failed and priced until the daemon’s check destroys it', async () => {
    const openBefore = (await new CostLedger(stateDir, Date.now).load()).openMachines().length;
    cloud.standIn.rateLimitNext(3, 1);
    const listed = await controller.list();
    assert.ok(Array.isArray(listed), 'the listing went through after the 429s');
    // A blip: the droplet POST fails (never retried: it may have made one). Listings lag, so the machine stays
    // priced until a later listing still lacks it: the budget errs on the side of overstating.
    cloud.standIn.failNext(1, 503, (method, path) => method === 'POST' && path === '/v2/droplets');
    await assert.rejects(controller.create({ provider: 'digitalocean', name: 'do-api-down' }), /DigitalOcean's API is failing \(HTTP 503\); try again/);
    const priced = (await new CostLedger(stateDir, Date.now).load()).openMachineOf('do-api-down');
    assert.ok(priced, 'a create that may have made a droplet stays priced');
    await new CostLedger(stateDir, Date.now).closeMachine(priced.id, 'vanished');
    assert.equal((await new CostLedger(stateDir, Date.now).load()).openMachines().length, openBefore);
    // Down for good, the cleanup's listing too: a failed listing is not taken for an empty one, so the create stays
    // priced and listed as failed, and the message says so (never that something was removed).
    // (The firewalls, read before anything is made, still answer: the failure meets the droplet's POST.)
    cloud.standIn.failNext(50, 503, (_method, path) => !path.startsWith('/v2/firewalls'));
    await assert.rejects(controller.create({ provider: 'digitalocean', name: 'do-api-down' }), (error: Error) => {
      assert.ok(isSandboxError(error), String(error));
      assert.match(error.message, /^DigitalOcean's API is failing \(HTTP 503\); try again/);
      assert.match(error.message, /could not be checked; it stays priced, is listed as a failed create, and the daemon destroys it at its next check\.$/);
      return true;
    });
    cloud.standIn.failNext(0);
    assert.equal(cloud.standIn.state.droplets({}).filter((droplet) => droplet.name === 'do-api-down').length, 0, 'nothing was made');
    assert.equal((await controller.list()).find((record) => record.name === 'do-api-down')?.state, 'error', 'listed as a failed create');
    const check = await new CostEnforcer({ controller, stateRoot: stateDir, log: () => undefined, isBusy: async () => false }).check();
    assert.deepEqual(check.failedCreates, ['do-api-down'], 'the daemon’s check destroys it');
    assert.equal((await controller.list()).filter((record) => record.name === 'do-api-down').length, 0, 'no record was left');
    const stillPriced = (await new CostLedger(stateDir, Date.now).load()).openMachineOf('do-api-down');
    if (stillPriced) await new CostLedger(stateDir, Date.now).closeMachine(stillPriced.id, 'vanished');
  });

  it('says a wrong token in one sentence that never carries it, and makes nothing', async () => {
    const wrong = 'dop_v1_' + 'f'.repeat(64);
    const other = makeController({ DIGITALOCEAN_TOKEN: wrong, AGENT_SANDBOXES_DIGITALOCEAN_URL: cloud.apiUrl });
    try {
      await assert.rejects(other.controller.create({ provider: 'digitalocean', name: 'do-wrong-token' }), (error: Error) => {
        assert.ok(!error.message.includes(wrong));
        assert.match(error.message, /token/i);
        return true;
      });
    } finally {
      other.controller.dispose();
    }
  });

  it('deletes the droplet and closes its ledger entry, leaving no container and no token anywhere in the state dir', async () => {
    await controller.delete('do-first');
    assert.equal(cloud.standIn.state.droplets({}).length, 0);
    assert.equal((await new CostLedger(stateDir, Date.now).load()).openMachines().length, 0);
    // The stand-in removes a deleted droplet's container after answering, as a cloud does.
    for (let waited = 0; (await cloud.containers()).length > 0 && waited < 30_000; waited += 250) await new Promise((resolve) => setTimeout(resolve, 250));
    assert.deepEqual(await cloud.containers(), [], 'the droplet containers are gone');
    const files: string[] = [];
    const walk = (dir: string) => {
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        const full = path.join(dir, entry.name);
        if (entry.isDirectory()) walk(full);
        else files.push(full);
      }
    };
    walk(stateDir);
    for (const file of files) assert.ok(!readFileSync(file).includes(cloud.token), `${file} holds the token`);
    provider.dispose();
  });
});

/** Runs Python as root in a droplet's machine, from outside it (test equipment's view); fails on a non-zero exit. */
async function rootInDroplet(container: string, python: string): Promise<void> {
  const exec = await docker.getContainer(container).exec({ Cmd: ['python3', '-c', python], AttachStdout: true, AttachStderr: true, Tty: true });
  const output = await new Promise<string>((resolve, reject) =>
    exec.start({}, (error, stream) => {
      if (error || !stream) return reject(error ?? new Error('no stream'));
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    }),
  );
  const { ExitCode } = await exec.inspect();
  assert.equal(ExitCode, 0, output);
}
