import * as assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { cloudCreateOptions, parseTimeToLive } from '../../../src/app/cloudOptions';
import { COST_REPORT_VERSION } from '../../../src/app/costReport';
import { stopDone, stopWarning, stopWay } from '../../../src/app/stopChoice';
import { EXIT, main } from '../../../src/cli/main';
import { missingDaemonWarning } from '../../../src/core/cloud/daemon';
import { gpuConfirmation, gpuRefusalPriceLine, priceLine, type SizePrice } from '../../../src/core/cost/billing';
import { isSandboxError } from '../../../src/core/errors';
import type { SandboxRecord } from '../../../src/core/model';

/** Runs the CLI in this process against a state dir of its own, and keeps what it writes. */
async function run(...argv: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const writeOut = process.stdout.write;
  const writeErr = process.stderr.write;
  process.stdout.write = ((chunk: string) => ((stdout += chunk), true)) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string) => ((stderr += chunk), true)) as typeof process.stderr.write;
  try {
    const status = await main(argv);
    return { status, stdout, stderr };
  } finally {
    process.stdout.write = writeOut;
    process.stderr.write = writeErr;
  }
}

function refusal(action: () => unknown): string {
  try {
    action();
  } catch (error) {
    assert.ok(isSandboxError(error, 'invalid-input'), `not a usage error: ${String(error)}`);
    return error.message;
  }
  return assert.fail('it was accepted');
}

describe('the CLI’s cloud options', function () {
  const saved = { home: process.env.AGENT_SANDBOXES_HOME, token: process.env.DIGITALOCEAN_TOKEN };
  let home: string;

  before(function () {
    home = mkdtempSync(path.join(os.tmpdir(), 'cloud-flags-'));
    process.env.AGENT_SANDBOXES_HOME = home;
    delete process.env.DIGITALOCEAN_TOKEN;
  });

  after(function () {
    for (const [name, value] of [
      ['AGENT_SANDBOXES_HOME', saved.home],
      ['DIGITALOCEAN_TOKEN', saved.token],
    ] as const) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
    rmSync(home, { recursive: true, force: true });
  });

  it('maps every flag into the create’s cloud options', function () {
    assert.deepEqual(cloudCreateOptions('digitalocean', { region: 'nyc3', size: 's-2vcpu-4gb', ttl: '90m', os: 'ubuntu-22-04', budget: '$25', yes: true }), {
      region: 'nyc3',
      size: 's-2vcpu-4gb',
      ttlMs: 90 * 60_000,
      os: 'ubuntu-22-04',
      budgetUsd: 25,
      confirmGpu: true,
    });
    assert.deepEqual(cloudCreateOptions('digitalocean', { gpu: 'H100' }), { gpu: 'h100' });
    assert.deepEqual(cloudCreateOptions('digitalocean', {}), {}, 'a cloud create without flags takes the defaults');
    assert.equal(cloudCreateOptions('docker', {}), undefined);
    assert.equal(cloudCreateOptions(undefined, { yes: false }), undefined, 'a switch left off is not a flag given');
  });

  it('reads a time-to-live in minutes, hours or days, and refuses a bare number, zero and more than a month', function () {
    assert.equal(parseTimeToLive('2h'), 2 * 3_600_000);
    assert.equal(parseTimeToLive('1h30m'), 90 * 60_000);
    assert.equal(parseTimeToLive(' 1.5h '), 90 * 60_000);
    assert.equal(parseTimeToLive('3d'), 3 * 86_400_000);
    assert.match(
      refusal(() => parseTimeToLive('2')),
      /"2" is not a duration; write it like 90m, 2h or 1h30m\./,
    );
    assert.match(
      refusal(() => parseTimeToLive('2 hours')),
      /not a duration/,
    );
    assert.match(
      refusal(() => parseTimeToLive('0m')),
      /shorter than a minute/,
    );
    assert.match(
      refusal(() => parseTimeToLive('32d')),
      /longer than 31 days/,
    );
  });

  it('refuses cloud flags with another provider, and bad values, in one sentence each', function () {
    const oneSentence = (text: string) => assert.equal(text.split(/\.\s/).length, 1, `more than one sentence: ${text}`);
    const docker = refusal(() => cloudCreateOptions('docker', { region: 'nyc3' }));
    assert.equal(docker, '--region applies only to cloud sandboxes, not to the docker provider; add --provider digitalocean or leave --region out.');
    oneSentence(docker);
    assert.match(
      refusal(() => cloudCreateOptions('ssh', { yes: true })),
      /^--yes applies only to cloud sandboxes, not to the ssh provider/,
    );
    assert.match(
      refusal(() => cloudCreateOptions('digitalocean', { size: 's-1vcpu-1gb', gpu: 'h100' })),
      /either --size or --gpu/,
    );
    assert.match(
      refusal(() => cloudCreateOptions('digitalocean', { os: 'debian-12' })),
      /"debian-12" is not offered; give ubuntu-24-04 or ubuntu-22-04/,
    );
    assert.match(
      refusal(() => cloudCreateOptions('digitalocean', { budget: '-5' })),
      /monthly budget must be a number/,
    );
    assert.match(
      refusal(() => cloudCreateOptions('digitalocean', { region: 'nyc3; rm -rf /' })),
      /not a DigitalOcean slug/,
    );
  });

  it('`sandbox start` refuses a cloud flag without a cloud provider before anything is made', async function () {
    const { status, stdout, stderr } = await run('start', '--ttl', '2h');
    assert.equal(status, EXIT.usage);
    assert.equal(stdout, '');
    assert.equal(stderr, 'sandbox: --ttl applies only to cloud sandboxes, not to the docker provider; add --provider digitalocean or leave --ttl out.\n');
  });

  it('documents the cloud flags, --power-off, extend, cost and cloud in the help', async function () {
    const start = (await run('start', '--help')).stdout;
    for (const flag of ['--region R', '--size S', '--gpu MODEL', '--yes', '--ttl DURATION', '--os SYSTEM', '--budget USD'])
      assert.ok(start.includes(flag), `start --help lacks ${flag}`);
    assert.match((await run('stop', '--help')).stdout, /--power-off .*still billed by the hour/);
    assert.match((await run('extend', '--help')).stdout, /^Usage: sandbox extend NAME DURATION/);
    assert.match((await run('cost', '--help')).stdout, /^Usage: sandbox cost \[--month YYYY-MM\] \[--json\] \[--set-budget USD\]/);
    const cloud = (await run('cloud', '--help')).stdout;
    for (const sub of ['login', 'logout', 'status']) assert.match(cloud, new RegExp(`Usage: sandbox cloud ${sub}`));
    assert.ok(!/--token/.test(cloud), 'a token must never be a process argument');
    const usage = (await run('--help')).stdout;
    for (const line of ['sandbox extend NAME DURATION', 'sandbox cost [--month YYYY-MM]', 'sandbox cloud login|logout|status'])
      assert.ok(usage.includes(line), line);
  });

  it('`sandbox extend` refuses a bare number before looking for the sandbox', async function () {
    const { status, stderr } = await run('extend', 'some-sandbox', '30');
    assert.equal(status, EXIT.usage);
    assert.match(stderr, /^sandbox: The extension "30" is not a duration/);
  });

  it('`sandbox cost --json` prints the stable shape, and --set-budget keeps the budget for every process', async function () {
    const { status, stdout } = await run('cost', '--set-budget', '20', '--json');
    assert.equal(status, EXIT.ok);
    const report = JSON.parse(stdout) as Record<string, unknown>;
    assert.deepEqual(Object.keys(report), [
      'version',
      'month',
      'asOf',
      'current',
      'budgetUsd',
      'spentUsd',
      'projectedUsd',
      'committedUsd',
      'leftUsd',
      'bySandbox',
      'byAgent',
      'byTask',
      'alerts',
      'account',
      'accountProblem',
      'ledgerProblems',
    ]);
    assert.equal(report.version, COST_REPORT_VERSION);
    assert.equal(report.budgetUsd, 20);
    assert.equal(report.leftUsd, 20);
    assert.equal(report.account, null, 'not signed in: no account figure');
    assert.deepEqual(JSON.parse(readFileSync(path.join(home, 'cost', 'budget.json'), 'utf8')), { monthlyUsd: 20 });
    const text = await run('cost');
    assert.match(text.stdout, /^Cloud sandboxes, \d{4}-\d{2} so far/);
    assert.match(text.stdout, /Budget \$20\.00: \$0\.00 spent, \$0\.00 projected, \$0\.00 committed, \$20\.00 left\./);
    assert.match((await run('cost', '--month', '2099-01')).stderr, /2099-01 has not begun/);
    assert.match((await run('cost', '--month', 'last')).stderr, /"last" is not a month/);
  });
});

describe('a GPU size’s refusal, asked again at a terminal', function () {
  it('names the size and price the person is asked to confirm, and nothing for other errors', function () {
    const h100: SizePrice = { slug: 'gpu-h100x1-80gb', usdPerHour: 3.39, gpu: { count: 1, model: 'H100', vramGb: 80 } };
    const refusal = gpuConfirmation(h100, false).refusal!;
    assert.equal(gpuRefusalPriceLine(refusal), priceLine(h100));
    assert.equal(gpuRefusalPriceLine('The region nyc9 does not exist.'), undefined);
  });
});

describe('`sandbox stop` on a machine billed while stopped', function () {
  const record = { id: 'abc123', name: 'trainer' } as SandboxRecord;

  it('hibernates by default, powers off only when asked (with a warning), and stops other sandboxes as before', function () {
    assert.equal(stopWay(true, false), 'hibernate');
    assert.equal(stopWay(true, true), 'power-off');
    assert.equal(stopWay(false, true), 'stop', '--power-off changes nothing where stopping costs nothing');
    assert.equal(
      stopDone('hibernate', record),
      "Hibernated trainer (abc123): snapshot kept, droplet destroyed, costs only the snapshot's storage; `sandbox start trainer` restores it.",
    );
    assert.equal(
      stopWarning('power-off', 'trainer'),
      'trainer is powered off but its machine is still billed by the hour; `sandbox stop trainer` without --power-off hibernates it instead.',
    );
    assert.equal(stopWarning('hibernate', 'trainer'), undefined);
    assert.equal(stopDone('stop', record), 'Stopped trainer (abc123).');
  });
});

describe('the warning of `sandbox list` when no daemon enforces cloud sandboxes', function () {
  const sandbox = (provider: SandboxRecord['provider'], state: SandboxRecord['state'] = 'running') => ({ name: 'x', provider, state }) as SandboxRecord;
  const down = { running: false, logFile: '/tmp/daemon.log' };

  it('warns only when a cloud sandbox that may bill exists and no daemon runs', function () {
    assert.equal(
      missingDaemonWarning([sandbox('digitalocean'), sandbox('digitalocean', 'stopped')], down),
      '2 cloud sandboxes exist and no daemon runs, so time-to-live and budget are not enforced; start it with `sandbox daemon start`.',
    );
    assert.equal(missingDaemonWarning([sandbox('digitalocean')], { ...down, running: true }), undefined);
    assert.equal(missingDaemonWarning([sandbox('docker'), sandbox('digitalocean', 'lost')], down), undefined);
  });
});
