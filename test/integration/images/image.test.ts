/**
 * The sandbox image against the real Docker engine: building (or finding) it, and what a
 * container made from it looks like inside. Fails, never skips, when the engine is absent.
 */
import * as assert from 'node:assert/strict';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Dockerode from 'dockerode';
import { isSandboxError } from '../../../src/core/errors';
import { buildLockPath, tryBuildLock } from '../../../src/core/images/buildLock';
import {
  IMAGE_LABELS,
  ensureSandboxImage,
  findMmdebstrap,
  findRecipeDir,
  makeDebianBase,
  readRecipe,
  sandboxImageTag,
  type ImageBuildProgress,
} from '../../../src/core/images';
import { execIn } from '../helpers';

/** Every container this file makes carries this label with this run's value. */
const TEST_LABEL = 'dev.agent-sandboxes.test';
const RUN = `images-${process.pid}-${Date.now().toString(36)}`;

interface RunResult {
  exitCode: number | null;
  stdout: string;
  stderr: string;
}

describe('sandbox image on the Docker engine', function () {
  this.timeout(120_000);
  const docker = new Dockerode();
  let tag: string;
  let engineAnswered = false;

  async function run(container: Dockerode.Container, cmd: string[], user = 'root'): Promise<RunResult> {
    const { code, stdout, stderr } = await execIn(container.id, cmd, { user });
    return { exitCode: code, stdout, stderr };
  }

  async function runOk(container: Dockerode.Container, cmd: string[], user = 'root'): Promise<string> {
    const result = await run(container, cmd, user);
    assert.equal(result.exitCode, 0, `${cmd.join(' ')} as ${user} failed: ${result.stderr}`);
    return result.stdout.trim();
  }

  async function waitForSshd(container: Dockerode.Container): Promise<void> {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const result = await run(container, ['pgrep', '-x', 'sshd']);
      if (result.exitCode === 0) return;
      if (Date.now() > deadline) {
        const logs = (await container.logs({ stdout: true, stderr: true })) as unknown as Buffer;
        assert.fail(`sshd did not start within 20 s; container log: ${logs.toString()}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  async function startSandbox(env: string[] = []): Promise<Dockerode.Container> {
    const container = await docker.createContainer({ Image: tag, Env: env, Labels: { [TEST_LABEL]: RUN }, HostConfig: { Tmpfs: { '/run/sandbox-network': 'mode=0700' } } });
    await container.start();
    // What the controller does once the sandbox's network rules are in: release the init.
    await runOk(container, ['sh', '-c', ': > /run/sandbox-network/ready']);
    await waitForSshd(container);
    return container;
  }

  before(async function () {
    try {
      await Promise.race([
        docker.ping(),
        new Promise((_, reject) => setTimeout(() => reject(new Error('no answer within 5 s')), 5_000).unref()),
      ]);
      engineAnswered = true;
    } catch (error) {
      throw new Error(`The Docker engine does not answer (${(error as Error).message}); start it (see .ci/run) before the integration tests.`, { cause: error });
    }
  });

  after(async function () {
    this.timeout(60_000);
    if (!engineAnswered) return; // the failure is already reported by before()
    const mine = await docker.listContainers({ all: true, filters: { label: [`${TEST_LABEL}=${RUN}`] } });
    await Promise.all(mine.map((info) => docker.getContainer(info.Id).remove({ force: true, v: true })));
  });

  it('finds the recipe above the compiled module and names the image by its hash', () => {
    const dir = findRecipeDir();
    assert.ok(existsSync(path.join(dir, 'Dockerfile')));
    const recipe = readRecipe(dir);
    assert.match(recipe.hash, /^[0-9a-f]{12}$/);
    assert.equal(sandboxImageTag(), `agent-sandboxes/sandbox:${recipe.hash}`);
    assert.ok(recipe.files.some((file) => file.path === 'sandbox-init' && file.mode === 0o755));
    assert.ok(recipe.files.some((file) => file.path === 'Dockerfile' && file.mode === 0o644));
  });

  it('builds the sandbox image, or finds it already built', async function () {
    this.timeout(20 * 60_000);
    const steps: ImageBuildProgress[] = [];
    const started = Date.now();
    let recipeStarted: number | undefined;
    const result = await ensureSandboxImage(docker, {
      onProgress: (progress) => {
        steps.push(progress);
        if (progress.step === 'Starting the build') recipeStarted = Date.now();
      },
    });
    tag = result.tag;
    assert.equal(tag, sandboxImageTag());
    const image = await docker.getImage(tag).inspect();
    assert.equal(image.Config.Labels?.[IMAGE_LABELS.recipe], tag.split(':')[1]);
    assert.ok(image.Size <= 1250e6, `the image is ${Math.round(image.Size / 1e6)} MB, over its budget of 1,250 MB (docs/images.md)`);
    if (result.built) {
      assert.ok(steps.some((progress) => /^Step \d+\/\d+$/.test(progress.step)), 'build steps were reported');
      const fractions = steps.flatMap((progress) => (progress.fraction === undefined ? [] : [progress.fraction]));
      assert.deepEqual(fractions, [...fractions].sort((a, b) => a - b), 'progress never goes back');
      assert.equal(fractions.at(-1), 1);
    }
    const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
    const phases = recipeStarted === undefined ? '' : ` (base ${seconds(recipeStarted - started)}, recipe ${seconds(Date.now() - recipeStarted)})`;
    console.log(`      ${result.built ? 'built' : 'found'} ${tag} on ${result.base || 'an unrecorded base'} in ${seconds(result.durationMs)}${phases}, ${Math.round(image.Size / 1e6)} MB`);
  });

  it('answers a second call without building: no build step runs and the image stays the same', async () => {
    const before = await docker.getImage(tag).inspect();
    const steps: ImageBuildProgress[] = [];
    const result = await ensureSandboxImage(docker, { onProgress: (progress) => steps.push(progress) });
    assert.equal(result.built, false);
    assert.equal(result.tag, tag);
    assert.deepEqual(steps, [], 'nothing was built, pulled or waited for');
    assert.equal((await docker.getImage(tag).inspect()).Id, before.Id);
  });

  it('reports build progress, step by step, when it builds (a throwaway variant of the recipe)', async function () {
    this.timeout(10 * 60_000);
    // The shipped recipe plus one unused file: a tag of its own, built on every run, mostly from the layer cache.
    const recipeDir = mkdtempSync(path.join(os.tmpdir(), 'throwaway-recipe-'));
    cpSync(findRecipeDir(), recipeDir, { recursive: true });
    writeFileSync(path.join(recipeDir, 'throwaway-build'), `${RUN}\n`);
    const steps: ImageBuildProgress[] = [];
    let throwaway: string | undefined;
    try {
      const result = await ensureSandboxImage(docker, { recipeDir, onProgress: (progress) => steps.push(progress) });
      throwaway = result.tag;
      assert.notEqual(result.tag, tag);
      assert.equal(result.built, true);
      assert.ok(steps.some((progress) => /^Step \d+\/\d+$/.test(progress.step)), `build steps were reported: ${JSON.stringify(steps.map((progress) => progress.step))}`);
      const fractions = steps.flatMap((progress) => (progress.fraction === undefined ? [] : [progress.fraction]));
      assert.ok(fractions.some((fraction) => fraction > 0 && fraction < 1), `progress was estimated along the way: ${JSON.stringify(fractions)}`);
      assert.deepEqual(fractions, [...fractions].sort((a, b) => a - b), 'progress never goes back');
      assert.equal(fractions.at(-1), 1);
      assert.equal(steps.at(-1)?.step, 'Sandbox image ready');
    } finally {
      if (throwaway) await docker.getImage(throwaway).remove().catch(() => undefined);
      rmSync(recipeDir, { recursive: true, force: true });
    }
  });

  it('bakes no SSH host key into the image', async () => {
    const container = await docker.createContainer({
      Image: tag,
      Entrypoint: ['/bin/ls'],
      Cmd: ['-1A', '/etc/ssh'],
      Labels: { [TEST_LABEL]: RUN },
    });
    await container.start();
    const status = (await container.wait()) as { StatusCode: number };
    assert.equal(status.StatusCode, 0);
    const out: Buffer[] = [];
    const logs = (await container.logs({ stdout: true, stderr: false })) as unknown as Buffer;
    // Without a TTY the log is framed: 8-byte headers with the payload length at byte 4.
    for (let offset = 0; offset + 8 <= logs.length; ) {
      const length = logs.readUInt32BE(offset + 4);
      out.push(logs.subarray(offset + 8, offset + 8 + length));
      offset += 8 + length;
    }
    const names = Buffer.concat(out).toString().split('\n').filter(Boolean);
    assert.ok(names.includes('sshd_config'), `ls /etc/ssh gave: ${names.join(' ')}`);
    assert.deepEqual(names.filter((name) => name.startsWith('ssh_host_')), []);
  });

  describe('a sandbox made from the image', () => {
    let plain: Dockerode.Container;
    let withSudo: Dockerode.Container;

    before(async function () {
      this.timeout(60_000);
      assert.ok(tag, 'the image was built');
      [plain, withSudo] = await Promise.all([startSandbox(), startSandbox(['SANDBOX_SUDO=1'])]);
    });

    it('runs tini as PID 1 and sshd under it', async () => {
      assert.equal(await runOk(plain, ['cat', '/proc/1/comm']), 'tini');
      const sshd = await runOk(plain, ['ps', '-o', 'ppid=,user=,args=', '-C', 'sshd']);
      assert.match(sshd, /^\s*1\s+root\s+sshd: \/usr\/sbin\/sshd -D -e/m, sshd);
      const log = ((await plain.logs({ stdout: true, stderr: true })) as unknown as Buffer).toString();
      assert.match(log, /Server listening on/, 'sshd writes its log to the container log');
    });

    it('has the agent user with its workspace', async () => {
      assert.equal(await runOk(plain, ['id', '-u', 'agent']), '1000');
      assert.equal(await runOk(plain, ['id', '-g', 'agent']), '1000');
      assert.equal(await runOk(plain, ['getent', 'passwd', 'agent']), 'agent:x:1000:1000::/home/agent:/bin/bash');
      assert.equal(await runOk(plain, ['stat', '-c', '%U:%G %a', '/home/agent/workspace']), 'agent:agent 755');
      assert.equal(await runOk(plain, ['sh', '-c', 'touch x && rm x && pwd'], 'agent'), '/home/agent/workspace');
    });

    it('has python3, git, rsync, curl and tar', async () => {
      assert.match(await runOk(plain, ['python3', '-c', 'import sys, ssl, json; print(sys.version)'], 'agent'), /^3\.\d+/);
      assert.match(await runOk(plain, ['git', '--version'], 'agent'), /^git version 2\./);
      assert.match(await runOk(plain, ['rsync', '--version'], 'agent'), /^rsync\s+version 3\./);
      assert.match(await runOk(plain, ['curl', '--version'], 'agent'), /^curl 7\./);
      assert.match(await runOk(plain, ['tar', '--version'], 'agent'), /GNU tar/);
    });

    it('gives every sandbox its own host key', async () => {
      const fingerprint = (container: Dockerode.Container) =>
        runOk(container, ['ssh-keygen', '-l', '-f', '/etc/ssh/ssh_host_ed25519_key.pub']);
      const [first, second] = await Promise.all([fingerprint(plain), fingerprint(withSudo)]);
      assert.match(first, /^256 SHA256:\S+ .*\(ED25519\)$/);
      assert.notEqual(first.split(' ')[1], second.split(' ')[1]);
      assert.equal(await runOk(plain, ['stat', '-c', '%U %a', '/etc/ssh/ssh_host_ed25519_key']), 'root 600');
    });

    it('lets the agent use sudo only when SANDBOX_SUDO=1', async () => {
      assert.equal(await runOk(withSudo, ['sudo', '-n', 'id', '-u'], 'agent'), '0');
      assert.equal(await runOk(withSudo, ['stat', '-c', '%U %a', '/etc/sudoers.d/agent']), 'root 440');
      const denied = await run(plain, ['sudo', '-n', 'true'], 'agent');
      assert.notEqual(denied.exitCode, 0);
      assert.equal((await run(plain, ['test', '-e', '/etc/sudoers.d/agent'])).exitCode, 1);
    });

    it('takes keys from /run/sandbox/authorized_keys, keeps its host key on restart, and allows key logins for agent only', async function () {
      this.timeout(60_000);
      const hostKeyBefore = await runOk(plain, ['cat', '/etc/ssh/ssh_host_ed25519_key.pub']);
      await runOk(plain, ['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-f', '/home/agent/id'], 'agent');
      await runOk(plain, ['sh', '-c', 'mkdir -p /run/sandbox /root/.ssh && cp /home/agent/id.pub /run/sandbox/authorized_keys && cp /home/agent/id.pub /root/.ssh/authorized_keys']);
      await plain.restart({ t: 5 });
      await runOk(plain, ['sh', '-c', ': > /run/sandbox-network/ready']); // as the controller does at every start
      await waitForSshd(plain);
      const hostKey = await runOk(plain, ['cat', '/etc/ssh/ssh_host_ed25519_key.pub']);
      assert.equal(hostKey, hostKeyBefore, 'the host key survives a restart');
      assert.equal(await runOk(plain, ['stat', '-c', '%U %a', '/home/agent/.ssh/authorized_keys']), 'agent 600');

      // The client inside the sandbox talks to its own sshd over loopback, trusting only the known host key.
      await runOk(plain, ['sh', '-c', `printf '127.0.0.1 %s\\n' "$(cut -d' ' -f1,2 /etc/ssh/ssh_host_ed25519_key.pub)" > /home/agent/known_hosts`], 'agent');
      const ssh = (user: string, ...extra: string[]) => [
        'ssh', '-i', '/home/agent/id', '-o', 'UserKnownHostsFile=/home/agent/known_hosts', '-o', 'StrictHostKeyChecking=yes',
        '-o', 'BatchMode=yes', '-o', 'ConnectTimeout=5', ...extra, `${user}@127.0.0.1`, 'id', '-un',
      ];
      assert.equal(await runOk(plain, ssh('agent'), 'agent'), 'agent');
      const root = await run(plain, ssh('root'), 'agent');
      assert.notEqual(root.exitCode, 0, 'root may not log in');
      const password = await run(plain, ssh('agent', '-o', 'PreferredAuthentications=password,keyboard-interactive'), 'agent');
      assert.notEqual(password.exitCode, 0);
      assert.match(password.stderr, /Permission denied \(publickey\)/, password.stderr);
    });
  });

  it('cancels a forced rebuild and leaves the tagged image as it was', async function () {
    this.timeout(120_000);
    const before = await docker.getImage(tag).inspect();
    const startedSeconds = Math.floor(Date.now() / 1000);
    const controller = new AbortController();
    const attempt = ensureSandboxImage(docker, {
      force: true,
      signal: controller.signal,
      onProgress: (progress) => {
        if (/^Step [2-9]/.test(progress.step)) controller.abort();
      },
    });
    await assert.rejects(attempt, (error: unknown) => isSandboxError(error, 'cancelled'));
    // Give an engine that did not stop time to tag a new image.
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    const after = await docker.getImage(tag).inspect();
    assert.equal(after.Id, before.Id);
    // Nor step images of the cancelled build left hanging on the base.
    const baseId = (await docker.getImage(before.Config.Labels![IMAGE_LABELS.base]!.split('@')[0]!).inspect()).Id;
    const dangling = await docker.listImages({ filters: { dangling: ['true'] } });
    const leftovers = dangling.filter((image) => image.ParentId === baseId && image.Created >= startedSeconds);
    assert.deepEqual(leftovers.map((image) => image.Id), []);
  });

  it('cancels making a Debian base: mmdebstrap stops and no image is left', async function () {
    this.timeout(120_000);
    const probeTag = `agent-sandboxes/debian-base:cancel-test-${RUN}`;
    const controller = new AbortController();
    const lines: string[] = [];
    const attempt = makeDebianBase(docker, {
      tag: probeTag,
      signal: controller.signal,
      onProgress: (progress) => {
        if (progress.message) lines.push(progress.message);
        if (/downloading packages|extracting/.test(progress.message ?? '')) controller.abort();
      },
    });
    setTimeout(() => controller.abort(), 20_000).unref();
    if (!findMmdebstrap()) {
      await assert.rejects(attempt, (error: unknown) => isSandboxError(error, 'image-missing'));
      return;
    }
    await assert.rejects(attempt, (error: unknown) => isSandboxError(error, 'cancelled'));
    const leftover = await docker.getImage(probeTag).inspect().then(() => true, () => false);
    assert.equal(leftover, false, 'no image under the test tag');
    const mounts = readFileSync('/proc/mounts', 'utf8').split('\n').filter((line) => line.includes('mmdebstrap'));
    assert.deepEqual(mounts, [], 'mmdebstrap unmounted its temporary root');
  });

  it('lets one process at a time build a tag on this machine', () => {
    const file = buildLockPath(`test-${RUN}`, 'agent-sandboxes/sandbox:lock-test');
    const first = tryBuildLock(file);
    assert.ok('release' in first);
    try {
      assert.deepEqual(tryBuildLock(file), { heldBy: process.pid });
    } finally {
      first.release();
    }
    // A lock left by a process that is gone is taken over.
    writeFileSync(file, JSON.stringify({ pid: 2 ** 22 + 12345, host: os.hostname(), since: new Date().toISOString(), token: 'gone' }));
    const second = tryBuildLock(file);
    assert.ok('release' in second);
    second.release();
    assert.equal(existsSync(file), false);
  });

  it('says the engine is unavailable when nothing listens', async () => {
    const nowhere = new Dockerode({ socketPath: path.join('/tmp', `no-engine-${RUN}.sock`) });
    await assert.rejects(ensureSandboxImage(nowhere), (error: unknown) => isSandboxError(error, 'engine-unavailable'));
  });
});
