import * as assert from 'node:assert/strict';
import { mkdtempSync, promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Dockerode from 'dockerode';
import { doctorText } from '../../../../src/app/doctorReport';
import { runDoctor, type DoctorContext } from '../../../../src/core/doctor';
import { engineVersionCheck } from '../../../../src/core/doctor/engine';
import { limitsCheck, limitsMissingFromProbe } from '../../../../src/core/doctor/limits';
import { hostChecks } from '../../../../src/core/doctor/hosts';
import { meetsVersion, nodeCheck } from '../../../../src/core/doctor/machine';
import { findRemoteSshExtension, sshChecks } from '../../../../src/core/doctor/ssh';
import { stateDirChecks } from '../../../../src/core/doctor/stateDir';
import { fail, pass, warn } from '../../../../src/core/doctor/types';
import type { SshHost } from '../../../../src/core/hosts/registry';
import { SandboxError } from '../../../../src/core/errors';
import { addSshInclude } from '../../../../src/core/ssh/userConfig';

const made: string[] = [];

function temp(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'doctor-unit-'));
  made.push(dir);
  return dir;
}

function context(overrides: Partial<DoctorContext> = {}): DoctorContext {
  const root = temp();
  return {
    docker: new Dockerode({ socketPath: path.join(root, 'no-engine.sock') }),
    stateDir: path.join(root, 'state'),
    sshConfigFile: path.join(root, 'state', 'ssh', 'config'),
    userSshConfig: path.join(root, 'home', '.ssh', 'config'),
    homeDir: path.join(root, 'home'),
    hosts: async () => [],
    reachHost: async () => undefined,
    runtime: 'cli',
    cli: 'sandbox',
    ...overrides,
  };
}

const HOST: SshHost = {
  name: 'box',
  host: '192.0.2.7',
  port: 2222,
  user: 'ops',
  hostKey: 'ssh-ed25519 AAAA',
  fingerprint: 'SHA256:abc',
  docker: true,
  home: '/home/ops',
  addedAt: '2026-01-01T00:00:00Z',
};

describe('the doctor', function () {
  after(async () => {
    for (const dir of made) await fs.rm(dir, { recursive: true, force: true });
  });

  describe('Node.js', function () {
    it('compares versions part by part', function () {
      assert.equal(meetsVersion('20.19.0', '20.19'), true);
      assert.equal(meetsVersion('v20.20.2', '20.19'), true);
      assert.equal(meetsVersion('22.0.0', '20.19'), true);
      assert.equal(meetsVersion('20.18.3', '20.19'), false);
      assert.equal(meetsVersion('18.20.0', '20.19'), false);
      assert.equal(meetsVersion('20.9.0', '20.19'), false, 'numbers, not text: 9 < 19');
    });

    it('fails an old Node.js for the CLI with the way to a new one, and only describes the extension host', function () {
      const old = nodeCheck({ runtime: 'cli' }, '18.19.0');
      assert.equal(old.status, 'fail');
      assert.match(old.fix!, /Node\.js 20\.19 or newer/);
      assert.equal(nodeCheck({ runtime: 'cli' }, '20.19.1').status, 'pass');
      assert.equal(nodeCheck({ runtime: 'extension' }, '18.0.0').status, 'pass');
    });
  });

  describe('the engine', function () {
    it('fails an engine whose info says it cannot enforce a limit, naming it, before any probe', async function () {
      const docker = new Dockerode({ socketPath: path.join(temp(), 'no-engine.sock') });
      const missing = await limitsCheck(docker, { MemoryLimit: false, CpuCfsQuota: true, PidsLimit: false, CgroupVersion: '1' }, 'any-image');
      assert.equal(missing.status, 'fail');
      assert.match(missing.detail, /cannot enforce memory, process limits \(cgroup v1\)/);
      assert.match(missing.fix!, /cgroup/);
      const fromInfo = await limitsCheck(
        docker,
        { MemoryLimit: true, CpuCfsQuota: true, PidsLimit: true, CgroupVersion: '2', CgroupDriver: 'systemd' },
        undefined,
      );
      assert.equal(fromInfo.status, 'pass');
      assert.match(fromInfo.detail, /says it enforces .* \(cgroup v2, systemd\); with the sandbox image built/);
    });

    it("reads the probe's cgroup files, v2 and v1", function () {
      assert.deepEqual(limitsMissingFromProbe('memory.max 67108864\ncpu.max 50000 100000\npids.max 64\n'), []);
      assert.deepEqual(limitsMissingFromProbe('memory/memory.limit_in_bytes 67108864\r\ncpu,cpuacct/cpu.cfs_quota_us 50000\r\npids/pids.max 64\r\n'), []);
      assert.deepEqual(limitsMissingFromProbe('memory.max max\ncpu.max max 100000\npids.max 64\n'), ['memory', 'CPU']);
      assert.deepEqual(limitsMissingFromProbe(''), ['memory', 'CPU', 'process']);
    });

    it('reports the version, and warns below the tested one', function () {
      const current = engineVersionCheck('/var/run/docker.sock', { Version: '27.3.1', ApiVersion: '1.47' });
      assert.equal(current.status, 'pass');
      assert.equal(current.detail, 'Docker Engine 27.3.1 (API 1.47) answers at /var/run/docker.sock.');
      assert.equal(engineVersionCheck('/s', { Version: '19.03.15', ApiVersion: '1.40' }).status, 'warn');
      const podman = engineVersionCheck('/s', { Version: '4.9.3', ApiVersion: '1.41', Components: [{ Name: 'Podman Engine' }] });
      assert.equal(podman.status, 'pass');
      assert.match(podman.detail, /^Podman 4\.9\.3/);
    });
  });

  describe('the state dir', function () {
    it('passes a state dir that is not made yet', async function () {
      const [line] = await stateDirChecks(context());
      assert.equal(line!.status, 'pass');
      assert.match(line!.detail, /not made yet/);
    });

    it('fails a folder others may read and key files others may read, leaving public keys alone', async function () {
      const ctx = context();
      await fs.mkdir(path.join(ctx.stateDir, 'ssh', 'keys'), { recursive: true });
      await fs.mkdir(path.join(ctx.stateDir, 'hosts'));
      await fs.writeFile(path.join(ctx.stateDir, 'ssh', 'keys', 'a'), 'secret', { mode: 0o600 });
      await fs.writeFile(path.join(ctx.stateDir, 'ssh', 'keys', 'a.pub'), 'public', { mode: 0o644 });
      await fs.writeFile(path.join(ctx.stateDir, 'hosts', 'box.json'), '{}', { mode: 0o600 });
      await fs.chmod(ctx.stateDir, 0o700);
      const good = await stateDirChecks(ctx);
      assert.deepEqual(
        good.map((line) => line.status),
        ['pass', 'pass'],
      );
      assert.match(good[1]!.detail, /All 2 key and host files are mode 0600/);

      await fs.chmod(ctx.stateDir, 0o755);
      await fs.chmod(path.join(ctx.stateDir, 'hosts', 'box.json'), 0o640);
      const [dir, keys] = await stateDirChecks(ctx);
      assert.equal(dir!.status, 'fail');
      assert.match(dir!.detail, /is mode 0755/);
      assert.equal(dir!.fix, `Run \`chmod 700 ${ctx.stateDir}\`.`);
      assert.equal(keys!.status, 'fail');
      assert.match(keys!.detail, /box\.json \(0640\)/);
      assert.doesNotMatch(keys!.detail, /a\.pub/);
      assert.match(keys!.fix!, /chmod -R go= /);
    });
  });

  describe('SSH and VS Code', function () {
    it('warns, never fails, without the Include or a Remote-SSH extension', async function () {
      const ctx = context();
      const [include, remote] = await sshChecks(ctx);
      assert.equal(include!.status, 'warn');
      assert.equal(include!.ok, true);
      assert.match(include!.fix!, /sandbox ssh-config --install/);
      assert.equal(remote!.status, 'warn');
      assert.match(remote!.fix!, /ms-vscode-remote\.remote-ssh/);
    });

    it('passes with our Include and an installed Remote-SSH, and warns about the Include of another state dir', async function () {
      const ctx = context();
      await addSshInclude(ctx.userSshConfig, ctx.sshConfigFile);
      await fs.mkdir(path.join(ctx.homeDir, '.vscode-server', 'extensions', 'jeanp413.open-remote-ssh-0.0.48'), { recursive: true });
      const [include, remote] = await sshChecks(ctx);
      assert.equal(include!.status, 'pass');
      assert.equal(remote!.status, 'pass');
      assert.equal(await findRemoteSshExtension(ctx.homeDir), path.join(ctx.homeDir, '.vscode-server', 'extensions', 'jeanp413.open-remote-ssh-0.0.48'));

      await addSshInclude(ctx.userSshConfig, path.join(ctx.homeDir, 'elsewhere', 'config'));
      const [other] = await sshChecks(ctx);
      assert.equal(other!.status, 'warn');
      assert.match(other!.detail, /another state dir/);
    });

    it('asks the extension, when it runs there, which Remote-SSH VS Code loaded', async function () {
      const [, remote] = await sshChecks(context({ remoteSshExtension: () => undefined }));
      assert.match(remote!.detail, /in this VS Code/);
      const [, found] = await sshChecks(context({ remoteSshExtension: () => 'ms-vscode-remote.remote-ssh 0.120.0' }));
      assert.equal(found!.status, 'pass');
    });
  });

  describe('SSH hosts', function () {
    it('says none are added, passes one that answers and fails one that does not or shows another key', async function () {
      assert.deepEqual(
        (await hostChecks(context())).map((line) => [line.id, line.status]),
        [['hosts', 'pass']],
      );
      const hosts = async () => [HOST, { ...HOST, name: 'down' }, { ...HOST, name: 'moved' }];
      const reachHost = async (host: SshHost) => {
        if (host.name === 'down') throw new SandboxError('connection-failed', 'Could not connect (ECONNREFUSED).');
        if (host.name === 'moved') throw new SandboxError('host-key-mismatch', 'The host key changed.');
      };
      const lines = await hostChecks(context({ hosts, reachHost }));
      assert.deepEqual(
        lines.map((line) => [line.id, line.status]),
        [
          ['host.box', 'pass'],
          ['host.down', 'fail'],
          ['host.moved', 'fail'],
        ],
      );
      assert.match(lines[0]!.detail, /ops@192\.0\.2\.7:2222 answers with its pinned key \(SHA256:abc\)/);
      assert.match(lines[1]!.fix!, /ssh -p 2222 ops@192\.0\.2\.7/);
      assert.match(lines[2]!.detail, /another key than the one pinned/);
      assert.match(lines[2]!.fix!, /out of band/);
    });
  });

  it('reports every group, and a dead engine as failed lines with their fix', async function () {
    const report = await runDoctor(context());
    assert.equal(report.ok, false);
    const engine = report.checks.find((line) => line.id === 'engine')!;
    assert.equal(engine.status, 'fail');
    assert.match(engine.detail, /no-engine\.sock does not answer/);
    for (const id of ['engine.limits', 'image.sandbox', 'image.desktop']) {
      assert.match(report.checks.find((line) => line.id === id)!.detail, /^Not checked/);
    }
  });

  it('prints one line per check, its fix below it, and a verdict', function () {
    const text = doctorText(
      {
        ok: false,
        checks: [pass('a', 'Alpha', 'Fine.'), warn('b', 'Beta', 'Missing.', 'Add it.'), fail('c', 'Gamma', 'Broken.', 'Mend it.')],
      },
      'sandbox',
    );
    assert.equal(
      text,
      [
        'ok    Alpha  Fine.',
        'warn  Beta   Missing.',
        '             fix: Add it.',
        'FAIL  Gamma  Broken.',
        '             fix: Mend it.',
        '',
        '1 of 3 checks fail; do what their fix says, then run `sandbox doctor` again.',
      ].join('\n'),
    );
    assert.match(
      doctorText({ ok: true, checks: [pass('a', 'Alpha', 'Fine.'), warn('b', 'Beta', 'Missing.', 'Add it.')] }, 'sandbox'),
      /All 2 checks pass \(1 warning: only some uses need it\)\.$/,
    );
  });
});
