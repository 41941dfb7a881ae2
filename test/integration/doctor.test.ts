import * as assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import type { CheckResult, DoctorReport } from '../../src/core/doctor';
import { sandboxImageTag } from '../../src/core/images';
import { generateEd25519 } from '../../src/core/ssh/keys';
import { CLI, REPO_ROOT, TestEnvironment, ensureImage, runProgram, tempDir } from './helpers';
import { startRootSshd } from './sshHostFixtures';

/** Every check the doctor makes on a machine with no SSH host added. */
const CHECK_IDS = [
  'node',
  'ssh-client',
  'engine',
  'engine.limits',
  'image.sandbox',
  'image.desktop',
  'state-dir',
  'state-dir.keys',
  'ssh.include',
  'vscode.remote-ssh',
  'hosts',
];

function parseReport(stdout: string): DoctorReport {
  const report = JSON.parse(stdout) as DoctorReport;
  assert.equal(typeof report.ok, 'boolean');
  assert.ok(Array.isArray(report.checks));
  for (const check of report.checks) {
    assert.deepEqual(Object.keys(check).sort(), ['detail', 'fix', 'id', 'ok', 'status', 'title'], JSON.stringify(check));
    assert.ok(['pass', 'warn', 'fail'].includes(check.status), check.status);
    assert.equal(check.ok, check.status !== 'fail', check.id);
    assert.match(check.detail, /\S/, check.id);
    // Whatever is not a plain pass says what to do.
    if (check.status === 'pass') assert.equal(check.fix, null, check.id);
    else assert.match(check.fix ?? '', /\S/, check.id);
  }
  assert.equal(
    report.ok,
    report.checks.every((check) => check.ok),
  );
  return report;
}

function check(report: DoctorReport, id: string): CheckResult {
  const found = report.checks.find((entry) => entry.id === id);
  assert.ok(found, `no check ${id} in ${report.checks.map((entry) => entry.id).join(', ')}`);
  return found;
}

/** A port on loopback where nothing listens. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('sandbox doctor', function () {
  const env = new TestEnvironment();
  before(() => ensureImage());
  after(() => env.dispose());

  it('passes on this machine, with every check listed by --json', async function () {
    const text = await env.cli(['doctor']);
    assert.equal(text.code, 0, text.stdout + text.stderr);
    assert.match(text.stdout, /^All \d+ checks pass/m);
    assert.doesNotMatch(text.stdout, /^FAIL/m);
    assert.match(text.stdout, new RegExp(`^ok +Sandbox image +${sandboxImageTag()} is built from this version's recipe`, 'm'));

    const json = await env.cli(['doctor', '--json']);
    assert.equal(json.code, 0, json.stdout + json.stderr);
    const report = parseReport(json.stdout);
    assert.equal(report.ok, true);
    assert.deepEqual(
      report.checks.map((entry) => entry.id),
      CHECK_IDS,
    );
    assert.equal(check(report, 'engine').status, 'pass');
    const limits = check(report, 'engine.limits');
    assert.equal(limits.status, 'pass');
    assert.match(limits.detail, /^A container's memory, CPU and process limits are enforced/, 'the limits were tried on a real container');
    assert.equal(check(report, 'state-dir').status, 'pass');
    assert.match(check(report, 'state-dir').detail, /mode 0700/);
  });

  it('fails the engine, the state dir, its key files and a silent host, each with its fix, and exits 1', async function () {
    const stateDir = tempDir('sandbox-doctor-');
    try {
      const deadSocket = path.join(stateDir, 'dead.sock');
      // A key file others can read, and a host whose port nobody answers on.
      await fs.mkdir(path.join(stateDir, 'ssh', 'keys'), { recursive: true });
      await fs.writeFile(path.join(stateDir, 'ssh', 'keys', 'sb-1'), generateEd25519('doctor').privateKey, { mode: 0o644 });
      await fs.chmod(path.join(stateDir, 'ssh', 'keys', 'sb-1'), 0o644);
      const identityFile = path.join(stateDir, 'host-key');
      await fs.writeFile(identityFile, generateEd25519('doctor-host').privateKey, { mode: 0o600 });
      const hostKey = generateEd25519('pinned').publicKey.split(' ').slice(0, 2).join(' ');
      const host = {
        name: 'silent',
        host: '127.0.0.1',
        port: await closedPort(),
        user: 'agent',
        identityFile,
        hostKey,
        fingerprint: 'SHA256:x',
        docker: false,
        home: '/home/agent',
        addedAt: new Date().toISOString(),
      };
      await fs.mkdir(path.join(stateDir, 'hosts'), { recursive: true });
      await fs.writeFile(path.join(stateDir, 'hosts', 'silent.json'), JSON.stringify(host), { mode: 0o600 });
      await fs.chmod(stateDir, 0o777);
      const run = (args: string[]) =>
        runProgram(process.execPath, [CLI, ...args], { env: { AGENT_SANDBOXES_HOME: stateDir, DOCKER_HOST: `unix://${deadSocket}` } });

      const started = Date.now();
      const text = await run(['doctor']);
      assert.equal(text.code, 1, text.stdout + text.stderr);
      assert.ok(Date.now() - started < 30_000, 'a dead engine and a silent host are found out quickly');
      assert.match(text.stdout, new RegExp(`^FAIL +Docker engine +The Docker engine at ${deadSocket} does not answer`, 'm'));
      assert.match(text.stdout, /fix: Start it \(`sudo systemctl start docker`/);
      assert.match(text.stdout, new RegExp(`^FAIL +State dir +${stateDir} is mode 0777`, 'm'));
      assert.match(text.stdout, new RegExp(`fix: Run \`chmod 700 ${stateDir}\``));
      assert.match(text.stdout, /^FAIL +Key files +Other users could read .*sb-1 \(0644\)/m);
      assert.match(
        text.stdout,
        /^FAIL +SSH host silent +Could not log in to agent@127\.0\.0\.1:\d+: Could not reach host silent at .* over SSH \(connect ECONNREFUSED/m,
      );
      assert.match(text.stdout, /checks fail; do what their fix says/);

      const json = await run(['doctor', '--json']);
      assert.equal(json.code, 1, json.stdout + json.stderr);
      const report = parseReport(json.stdout);
      assert.equal(report.ok, false);
      for (const id of ['engine', 'engine.limits', 'image.sandbox', 'image.desktop', 'state-dir', 'state-dir.keys', 'host.silent']) {
        assert.equal(check(report, id).status, 'fail', `${id}: ${JSON.stringify(check(report, id))}`);
      }
      assert.match(check(report, 'engine').fix!, /DOCKER_HOST/);
      assert.match(check(report, 'host.silent').fix!, /host rm silent/);
      // What does not depend on the engine or the state dir still passes.
      assert.equal(check(report, 'node').status, 'pass');
      assert.equal(check(report, 'ssh-client').status, 'pass');
    } finally {
      await fs.chmod(stateDir, 0o700);
      await fs.rm(stateDir, { recursive: true, force: true });
    }
  });

  it('fails the sandbox image when it is not built from this version of the recipe', async function () {
    // An install whose recipe differs from the one the engine's image was built from (as after
    // an upgrade): a copy of the CLI finds the recipes next to it, so the shared images stay.
    const install = tempDir('sandbox-doctor-install-');
    try {
      await fs.mkdir(path.join(install, 'dist'));
      await fs.copyFile(CLI, path.join(install, 'dist', 'cli.js'));
      await fs.copyFile(path.join(path.dirname(CLI), 'cliMain.js'), path.join(install, 'dist', 'cliMain.js'));
      await fs.cp(path.join(REPO_ROOT, 'images'), path.join(install, 'images'), { recursive: true });
      await fs.appendFile(path.join(install, 'images', 'sandbox', 'Dockerfile'), '\n# a newer version of the recipe\n');
      const run = await runProgram(process.execPath, [path.join(install, 'dist', 'cli.js'), 'doctor', '--json'], {
        env: { AGENT_SANDBOXES_HOME: env.stateDir },
      });
      assert.equal(run.code, 1, run.stdout + run.stderr);
      const report = parseReport(run.stdout);
      const image = check(report, 'image.sandbox');
      assert.equal(image.status, 'fail');
      assert.match(image.detail, /^agent-sandboxes\/sandbox:[0-9a-f]{12} is not built; /);
      assert.ok(image.detail.includes(`${sandboxImageTag()}`), `the image of the other recipe is named: ${image.detail}`);
      assert.doesNotMatch(image.detail, new RegExp(`^${sandboxImageTag()}`));
      assert.match(image.fix!, /image build`/);
      // The desktop image builds on the sandbox image, so it is missing too; only desktops need it.
      const desktop = check(report, 'image.desktop');
      assert.equal(desktop.status, 'warn');
      assert.equal(desktop.ok, true);
      assert.match(desktop.fix!, /image build --desktop`/);
      assert.equal(check(report, 'engine').status, 'pass');
      assert.deepEqual(
        report.checks.filter((entry) => entry.status === 'fail').map((entry) => entry.id),
        ['image.sandbox'],
      );
    } finally {
      await fs.rm(install, { recursive: true, force: true });
    }
  });

  it('logs in to each added host with its pinned key only, failing one whose key is not the pinned one', async function () {
    const sshd = await startRootSshd();
    const stateDir = tempDir('sandbox-doctor-hosts-');
    try {
      const [type, base64] = (await fs.readFile(path.join(sshd.dir, 'host_key.pub'), 'utf8')).split(' ');
      const record = (name: string, hostKey: string, fingerprint: string) => ({
        name,
        host: '127.0.0.1',
        port: sshd.port,
        user: 'root',
        identityFile: sshd.clientKey,
        hostKey,
        fingerprint,
        docker: false,
        home: '/root',
        addedAt: new Date().toISOString(),
      });
      await fs.mkdir(path.join(stateDir, 'hosts'), { mode: 0o700 });
      const hosts = [
        record('up', `${type} ${base64}`, sshd.hostFingerprint),
        record('moved', generateEd25519('other').publicKey.split(' ').slice(0, 2).join(' '), 'SHA256:other'),
      ];
      for (const host of hosts) await fs.writeFile(path.join(stateDir, 'hosts', `${host.name}.json`), JSON.stringify(host), { mode: 0o600 });

      const run = await runProgram(process.execPath, [CLI, 'doctor', '--json'], { env: { AGENT_SANDBOXES_HOME: stateDir } });
      assert.equal(run.code, 1, run.stdout + run.stderr);
      const report = parseReport(run.stdout);
      const up = check(report, 'host.up');
      assert.equal(up.status, 'pass', JSON.stringify(up));
      assert.equal(up.detail, `root@127.0.0.1:${sshd.port} answers with its pinned key (${sshd.hostFingerprint}).`);
      const moved = check(report, 'host.moved');
      assert.equal(moved.status, 'fail');
      assert.match(moved.detail, /presents another key than the one pinned/);
      assert.match(moved.fix!, /out of band/);
      assert.equal(
        report.checks.some((entry) => entry.id === 'hosts'),
        false,
        'with hosts added, each has its own line',
      );
    } finally {
      await fs.rm(stateDir, { recursive: true, force: true });
      await sshd.stop();
    }
  });
});
