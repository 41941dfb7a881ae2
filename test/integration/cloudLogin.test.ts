import * as assert from 'node:assert/strict';
import { existsSync, promises as fs, statSync } from 'node:fs';
import * as path from 'node:path';
import { tokenFile } from '../../src/core/providers/digitalocean/credentials';
import { firewallSpec } from '../../src/core/providers/digitalocean/firewall';
import { sshSourcesFile } from '../../src/core/providers/digitalocean/sshSources';
import { StateStore } from '../../src/core/store/stateStore';
import { DigitalOceanStandIn } from '../doStandIn/server';
import { CLI, runCli, tempDir, type CliResult } from './helpers';

// Distinct from every other test's token, so a hit can only be a leak of this one.
const TOKEN = 'dop_v1_cloudlogin0000000000000000000000000000000000000000000000000a1';
const WRONG = 'dop_v1_wrongtoken000000000000000000000000000000000000000000000000b2';

/** Every file under `dir`, recursively. */
async function filesUnder(dir: string): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await fs.readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) found.push(...(await filesUnder(full)));
    else if (entry.isFile()) found.push(full);
  }
  return found;
}

describe('`sandbox cloud login|status|logout` through the built CLI, against the DigitalOcean stand-in', function () {
  this.timeout(60_000);
  let standIn: DigitalOceanStandIn;
  let home: string;
  let env: NodeJS.ProcessEnv;
  const outputs: CliResult[] = [];

  async function cli(args: string[], options: { stdin?: string; env?: NodeJS.ProcessEnv } = {}): Promise<CliResult> {
    const result = await runCli(args, { stdin: options.stdin, env: { ...env, ...options.env } });
    outputs.push(result);
    return result;
  }

  before(async function () {
    assert.ok(existsSync(CLI), `${CLI} is missing; run \`npm run build\` first.`);
    standIn = new DigitalOceanStandIn({ tokens: [TOKEN] });
    const url = await standIn.listen();
    home = tempDir('cloud-login-');
    env = { AGENT_SANDBOXES_HOME: home, AGENT_SANDBOXES_DIGITALOCEAN_URL: url, DIGITALOCEAN_TOKEN: '' };
  });

  after(async function () {
    await standIn?.close();
    if (home) await fs.rm(home, { recursive: true, force: true });
  });

  it('starts signed out', async function () {
    const status = await cli(['cloud', 'status']);
    assert.equal(status.code, 1);
    assert.equal(status.stdout, 'Not signed in to DigitalOcean; run `sandbox cloud login` (or set DIGITALOCEAN_TOKEN).\n');
    const json = JSON.parse((await cli(['cloud', 'status', '--json'])).stdout) as Record<string, unknown>;
    assert.equal(json.signedIn, false);
    assert.equal(json.account, null);
  });

  it('refuses a wrong token in one sentence and saves nothing', async function () {
    const result = await cli(['cloud', 'login'], { stdin: `${WRONG}\n` });
    assert.equal(result.code, 2, result.stderr);
    assert.equal(
      result.stderr,
      'sandbox: DigitalOcean refused that token, so nothing was saved; copy a valid personal access token from the control panel (API > Tokens) and sign in again.\n',
    );
    assert.equal(result.stdout, '');
    assert.equal(existsSync(tokenFile(home)), false, 'a refused token was saved');
    const empty = await cli(['cloud', 'login'], { stdin: '\n' });
    assert.match(empty.stderr, /^sandbox: The DigitalOcean token is empty;/);
    assert.equal(existsSync(tokenFile(home)), false);
  });

  it('keeps SSH sources chosen while signed out, saying the firewalls follow at the next create or sign-in', async function () {
    const ownerId = await new StateStore(home).ownerId();
    // A firewall of ours from an earlier sign-in, SSH from anywhere.
    const spec = firewallSpec(ownerId, 'default', ['0.0.0.0/0', '::/0']);
    standIn.state.firewalls.create({ name: spec.name, inbound_rules: spec.inboundRules, outbound_rules: spec.outboundRules, tags: spec.tags });
    const result = await cli(['cloud', 'ssh-source', '203.0.113.0/24']);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(
      result.stdout,
      'SSH to cloud sandboxes will be admitted from 203.0.113.0/24; not signed in to DigitalOcean, so the firewalls follow at the next create or sign-in.\n',
    );
    assert.equal(statSync(sshSourcesFile(home)).mode & 0o777, 0o600);
    const bad = await cli(['cloud', 'ssh-source', 'example.com']);
    assert.equal(bad.code, 2);
    assert.equal(bad.stderr, 'sandbox: "example.com" is not an address block for SSH; write one like 203.0.113.0/24 or 2001:db8::/32, or "anywhere".\n');
  });

  it('checks the right token against the account and keeps it readable by the user only', async function () {
    const result = await cli(['cloud', 'login'], { stdin: `${TOKEN}\n` });
    assert.equal(result.code, 0, result.stderr);
    const file = tokenFile(home);
    assert.equal(
      result.stdout,
      'Signed in to DigitalOcean as sandboxes@example.com (account active).\n' +
        `The token is kept in ${file}, readable by you only; the daemon uses it to enforce the budget and each cloud sandbox's time-to-live.\n`,
    );
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(statSync(path.dirname(file)).mode & 0o077, 0, 'the token folder is open to others');
    assert.equal((await fs.readFile(file, 'utf8')).trim(), TOKEN);
    assert.ok(
      standIn.requests.some((line) => line.startsWith('GET /v2/account')),
      'the token was not checked against the account',
    );
  });

  it('puts the stored SSH sources on the firewalls at sign-in, and ssh-source signed in updates and names them', async function () {
    const inbound = () => standIn.state.firewalls.list().map((firewall) => firewall.inbound_rules?.[0]?.sources?.addresses);
    assert.deepEqual(inbound(), [['203.0.113.0/24']]);
    const result = await cli(['cloud', 'ssh-source', 'anywhere']);
    assert.equal(result.code, 0, result.stderr);
    const name = standIn.state.firewalls.list()[0]!.name!;
    assert.equal(result.stdout, `SSH to cloud sandboxes is admitted from anywhere; updated 1 firewall(s): ${name}.\n`);
    assert.deepEqual(inbound(), [['0.0.0.0/0', '::/0']]);
  });

  it('says who is signed in and from where, never the token', async function () {
    const text = await cli(['cloud', 'status']);
    assert.equal(text.code, 0, text.stderr);
    assert.equal(text.stdout, `Signed in to DigitalOcean as sandboxes@example.com (account active), with the token file ${tokenFile(home)}.\n`);
    const json = JSON.parse((await cli(['cloud', 'status', '--json'])).stdout) as Record<string, unknown>;
    assert.deepEqual(
      { signedIn: json.signedIn, source: json.source, tokenFile: json.tokenFile },
      { signedIn: true, source: 'file', tokenFile: tokenFile(home) },
    );
    assert.deepEqual(json.account, { email: 'sandboxes@example.com', status: 'active', dropletLimit: 25 });
    const fromEnv = JSON.parse((await cli(['cloud', 'status', '--json'], { env: { DIGITALOCEAN_TOKEN: TOKEN } })).stdout) as Record<string, unknown>;
    assert.equal(fromEnv.source, 'environment');
    assert.equal(fromEnv.tokenFile, null);
    const wrongEnv = await cli(['cloud', 'status'], { env: { DIGITALOCEAN_TOKEN: WRONG } });
    assert.equal(wrongEnv.code, 1);
    assert.match(
      wrongEnv.stdout,
      /^A token is set, from DIGITALOCEAN_TOKEN \(environment\), but the account could not be read: DigitalOcean refused that token/,
    );
  });

  it('shows the account’s month-to-date usage beside the ledger in `sandbox cost`', async function () {
    const result = await cli(['cost', '--json']);
    assert.equal(result.code, 0, result.stderr);
    const report = JSON.parse(result.stdout) as { account: { monthToDateUsd: number; sentence: string } | null; accountProblem: string | null };
    assert.equal(report.accountProblem, null);
    assert.equal(typeof report.account?.monthToDateUsd, 'number');
    assert.match((await cli(['cost'])).stdout, /The account reports \$\d+\.\d\d month to date/);
  });

  it('signs out by removing the token file', async function () {
    const result = await cli(['cloud', 'logout']);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, `Signed out: removed ${tokenFile(home)}.\n`);
    assert.equal(existsSync(tokenFile(home)), false);
    assert.equal((await cli(['cloud', 'status'])).code, 1);
    assert.equal((await cli(['cloud', 'logout'])).stdout, 'No DigitalOcean token was saved in this state dir.\n');
  });

  it('never shows either token in any output, nor in any file of the state dir', async function () {
    // Signed in again, so the token file exists while the rest of the state dir is searched.
    assert.equal((await cli(['cloud', 'login'], { stdin: TOKEN })).code, 0);
    for (const { stdout, stderr } of outputs) {
      for (const token of [TOKEN, WRONG]) assert.ok(!stdout.includes(token) && !stderr.includes(token), 'a token was printed');
    }
    const files = await filesUnder(home);
    assert.ok(files.includes(tokenFile(home)));
    for (const file of files) {
      if (file === tokenFile(home)) continue;
      const text = await fs.readFile(file, 'utf8');
      for (const token of [TOKEN, WRONG]) assert.ok(!text.includes(token), `${path.relative(home, file)} holds a token`);
    }
  });
});
