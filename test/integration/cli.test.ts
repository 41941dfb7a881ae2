import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { pack } from 'tar-stream';
import { IMAGE_LABELS, sandboxImageTag } from '../../src/core/images';
import { LABELS } from '../../src/core/labels';
import { CLI, TestEnvironment, docker, ensureImage, tempDir, uniqueName, waitFor } from './helpers';
import { assertNothingLeft, footprint, type Footprint, type LeftoverKeys } from './leftovers';

describe('the sandbox CLI', function () {
  const env = new TestEnvironment();
  before(() => ensureImage());
  after(() => env.dispose());

  /** A failure message is one sentence on one line. */
  function assertOneSentence(stderr: string): void {
    const lines = stderr.trim().split('\n');
    assert.equal(lines.length, 1, `expected one line, got: ${stderr}`);
    assert.match(lines[0]!, /^sandbox: [A-Z].*[.)]$/);
  }

  /** No container or record of ours, and nothing else new since `before` on the engine or in the state dir. */
  async function assertNothingMade(before: Footprint, keys: LeftoverKeys): Promise<void> {
    assert.deepEqual(await env.containers(), []);
    const records = await env.store.listRecords();
    assert.deepEqual(records, []);
    await assertNothingLeft(before, keys);
  }

  it('starts a sandbox with a folder, runs in it, streams logs, and removes it', async function () {
    const name = uniqueName('cli');
    const before = await footprint(env.stateDir);
    const local = tempDir();
    await fs.writeFile(path.join(local, 'hello.py'), 'print("hello from", __name__)\n');
    const started = await env.cli(['start', local, '--name', name, '--agent', 'cli-agent', '--json']);
    assert.equal(started.code, 0, started.stderr + started.stdout);
    const record = JSON.parse(started.stdout) as { id: string; state: string };
    assert.equal(record.state, 'running');

    const ran = await env.cli(['exec', name, '--', 'python3', 'hello.py']);
    assert.equal(ran.code, 0, ran.stderr);
    assert.equal(ran.stdout, 'hello from __main__\n');

    const exitCode = await env.cli(['exec', name.slice(0, 8), '--', 'exit 3']);
    assert.equal(exitCode.code, 3);

    const timedOut = await env.cli(['exec', name, '--timeout', '300ms', '--', 'sleep', '30']);
    assert.equal(timedOut.code, 124);

    const piped = await env.cli(['exec', name, '-i', '--', 'tr', 'a-z', 'A-Z'], { stdin: 'shout\n' });
    assert.equal(piped.stdout, 'SHOUT\n');

    const logs = await env.cli(['logs', name]);
    assert.equal(logs.code, 0, logs.stderr);
    assert.match(logs.stdout, /exec {2}python3 hello\.py -> exit 0/);
    assert.match(logs.stdout, /sync {2}push 1 files/);
    assert.match(logs.stdout, /Server listening/, "the sandbox's own output (sshd) is in the log");

    const listed = await env.cli(['list']);
    assert.match(listed.stdout, new RegExp(`${name}\\s+running\\s+cli-agent`));

    const removed = await env.cli(['rm', name]);
    assert.equal(removed.code, 0, removed.stderr);
    await assertNothingMade(before, { names: [name], ids: [record.id] });
  });

  it('behaves in pipes: a closed reader ends the command, unread stdin does not hold the exit', async function () {
    const name = uniqueName('pipes');
    await env.controller.create({ name });
    const env_ = { ...process.env, AGENT_SANDBOXES_HOME: env.stateDir };

    // `| head -1`: the CLI exits quietly and the command stops inside the sandbox.
    const piped = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = spawn('bash', ['-c', `node ${CLI} exec ${name} -- yes sandbox-pipe-marker | head -1`], { env: env_ });
      let stderr = '';
      child.stderr.on('data', (chunk) => (stderr += chunk));
      child.on('close', (code) => resolve({ code, stderr }));
    });
    assert.equal(piped.code, 0);
    assert.equal(piped.stderr, '');
    await waitFor(
      async () => {
        const ps = await env.controller.exec(name, { command: ['ps', '-eo', 'args'] });
        return ps.stdout.includes('sandbox-pipe-marker') ? undefined : true;
      },
      10_000,
      'yes to be gone from the sandbox',
    );

    // stdin that never ends, which the command does not read.
    const started = Date.now();
    const unread = await new Promise<number | null>((resolve) => {
      const child = spawn(process.execPath, [CLI, 'exec', name, '-i', '--', 'echo', 'done'], { env: env_, stdio: ['pipe', 'ignore', 'ignore'] });
      child.stdin.write('never read, never closed\n');
      child.on('exit', (code) => {
        child.stdin.destroy();
        resolve(code);
      });
    });
    assert.equal(unread, 0);
    assert.ok(Date.now() - started < 10_000, `took ${Date.now() - started} ms`);
    await env.controller.delete(name);
  });

  it('tells folders from sandbox names, and refuses what a sandbox cannot do', async function () {
    const name = uniqueName('tell');
    const cwd = tempDir();
    await fs.mkdir(path.join(cwd, name));
    await env.controller.create({ name, profile: { sudo: false } });
    const inFolder = (args: string[]) =>
      new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
        const child = spawn(process.execPath, [CLI, ...args], { cwd, env: { ...process.env, AGENT_SANDBOXES_HOME: env.stateDir } });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (chunk) => (stdout += chunk));
        child.stderr.on('data', (chunk) => (stderr += chunk));
        child.on('close', (code) => resolve({ code, stdout, stderr }));
      });

    const started = await inFolder(['start', name, '--json']);
    assert.equal(started.code, 0, started.stderr);
    assert.equal((JSON.parse(started.stdout) as { name: string }).name, name, 'the sandbox wins over the folder of the same name');
    const withOption = await inFolder(['start', name, '--memory', '1g']);
    assert.equal(withOption.code, 2);
    assert.match(withOption.stderr, /--memory applies only when creating/);
    const missingFolder = await inFolder(['start', './no-such-folder']);
    assert.equal(missingFolder.code, 2);
    assert.match(missingFolder.stderr, /The folder \.\/no-such-folder does not exist/);

    for (const user of ['root', '00', '+0', 'agent:0', '1000:0', 'agent:sudo']) {
      const asRoot = await env.cli(['exec', name, '--user', user, '--', 'id']);
      assert.equal(asRoot.code, 2, `--user ${user}: ${asRoot.stdout}${asRoot.stderr}`);
      assert.equal(asRoot.stdout, '');
      assertOneSentence(asRoot.stderr);
      assert.match(asRoot.stderr, /made without sudo/);
    }
    assert.equal((await env.cli(['exec', name, '--', 'id', '-u'])).stdout, '1000\n');
    const ghost = await env.cli(['exec', name, '--user', 'ghost', '--', 'id']);
    assert.equal(ghost.code, 127);
    assert.equal(ghost.stdout, '', 'no engine text on stdout');
    assert.match(ghost.stderr, /The user ghost does not exist/);
    const badCwd = await env.cli(['exec', name, '--cwd', 'nope', '--', 'pwd']);
    assert.equal(badCwd.code, 127);
    assert.equal(badCwd.stdout, '');

    const removed = await env.cli(['rm', name, 'no-such-sandbox', '--json']);
    assert.equal(removed.code, 3);
    const report = JSON.parse(removed.stdout) as { error: { code: string }; done: { name: string }[] };
    assert.equal(report.error.code, 'not-found');
    assert.deepEqual(
      report.done.map((r) => r.name),
      [name],
    );
  });

  it('follows logs as execs happen; forwards and following end, saying why, when the sandbox stops or is removed', async function () {
    const name = uniqueName('follow');
    await env.controller.create({ name });
    const child = spawn(process.execPath, [CLI, 'logs', name, '-f', '--json'], { env: { ...process.env, AGENT_SANDBOXES_HOME: env.stateDir } });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    await waitFor(() => output.includes('"created"') || undefined, 10_000, 'the history');
    await env.controller.exec(name, { command: ['echo', 'followed-marker'] });
    await waitFor(() => output.includes('followed-marker') || undefined, 10_000, 'the new exec in the followed log');
    child.kill('SIGINT');
    const code = await new Promise((resolve) => child.on('close', resolve));
    assert.equal(code, 0);

    try {
      await forwardsAndFollowingEnd(name);
    } finally {
      for (const child of running.splice(0)) child.kill('SIGKILL');
      await env.controller.delete(name).catch(() => undefined);
    }
  });

  /** The rest of the test above: its sandbox goes either way. */
  async function forwardsAndFollowingEnd(name: string): Promise<void> {
    // A forward ends, saying why, when its sandbox stops; following logs ends with the output.
    const forwardOnStop = await background(['forward', name, '8000']);
    const stoppedPort = await forwardOnStop.listening();
    const followOnStop = await background(['logs', name, '-f']);
    await followOnStop.says(/Server listening/);
    assert.equal((await env.cli(['stop', name])).code, 0);
    const stopped = await forwardOnStop.exit(5000);
    assert.equal(stopped.code, 5, stopped.stderr);
    assert.match(
      stopped.stderr,
      new RegExp(
        `^sandbox: The sandbox ${name} stopped, so http://127\\.0\\.0\\.1:${stoppedPort}/ no longer forwards its port 8000; start it with \`sandbox start ${name}\` and forward again\\.\n$`,
      ),
    );
    await assertRefused(stoppedPort);
    assert.equal((await followOnStop.exit(5000)).code, 0);

    // Removed: the forward and the following both end within seconds, saying so (no such sandbox: 3).
    assert.equal((await env.cli(['start', name])).code, 0);
    const forwardOnRm = await background(['forward', name, '8000']);
    const removedPort = await forwardOnRm.listening();
    const followOnRm = await background(['logs', name, '-f']);
    await followOnRm.says(/Server listening/);
    assert.equal((await env.cli(['rm', name])).code, 0);
    const removed = await forwardOnRm.exit(5000);
    assert.equal(removed.code, 3, removed.stderr);
    assert.equal(removed.stderr, `sandbox: The sandbox ${name} was removed, so http://127.0.0.1:${removedPort}/ no longer forwards its port 8000.\n`);
    await assertRefused(removedPort);
    const followed = await followOnRm.exit(5000);
    assert.equal(followed.code, 3, followed.stderr);
    assert.equal(followed.stderr, `sandbox: The sandbox ${name} was removed, so its logs end here.\n`);
  }

  const running: ReturnType<typeof spawn>[] = [];

  /** A CLI command left running, with its output so far, for commands that run until something ends them. */
  async function background(args: string[]) {
    const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, AGENT_SANDBOXES_HOME: env.stateDir } });
    running.push(child);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    const closed = new Promise<number | null>((resolve) => child.on('close', resolve));
    const says = (pattern: RegExp) => waitFor(() => pattern.exec(stdout) ?? undefined, 20_000, `${pattern} from \`sandbox ${args.join(' ')}\``);
    return {
      says,
      /** The local port a `sandbox forward` listens on. */
      listening: async () => Number((await says(/http:\/\/127\.0\.0\.1:(\d+)\//))[1]),
      /** Its exit, which must come within `ms`. */
      exit: async (ms: number) => {
        const started = Date.now();
        const timer = setTimeout(() => child.kill('SIGKILL'), ms);
        const code = await closed;
        clearTimeout(timer);
        assert.ok(Date.now() - started < ms, `\`sandbox ${args.join(' ')}\` was still running ${ms} ms later`);
        return { code, stdout, stderr };
      },
    };
  }

  async function assertRefused(port: number): Promise<void> {
    const error = await new Promise<NodeJS.ErrnoException | undefined>((resolve) => {
      const socket = net.connect(port, '127.0.0.1', () => (socket.destroy(), resolve(undefined)));
      socket.on('error', resolve);
    });
    assert.equal(error?.code, 'ECONNREFUSED', `127.0.0.1:${port} still accepts connections`);
  }

  it('answers bad input with one sentence, a meaningful exit code, and nothing half-made', async function () {
    const before = await footprint(env.stateDir);
    const names = ['huge', 'tiny', 'noengine'].map((prefix) => uniqueName(prefix));
    const unknown = await env.cli(['exec', 'no-such-sandbox', '--', 'true']);
    assert.equal(unknown.code, 3);
    assertOneSentence(unknown.stderr);
    assert.match(unknown.stderr, /No sandbox is called no-such-sandbox/);

    const badName = await env.cli(['start', '--name', 'Bad_Name!']);
    assert.equal(badName.code, 2);
    assertOneSentence(badName.stderr);

    const huge = await env.cli(['start', '--name', names[0]!, '--memory', '100t']);
    assert.equal(huge.code, 2);
    assertOneSentence(huge.stderr);
    assert.match(huge.stderr, /memory limit/);

    const tiny = await env.cli(['start', '--name', names[1]!, '--memory', '1m']);
    assert.equal(tiny.code, 2);
    assertOneSentence(tiny.stderr);

    const noEngine = await env.cli(['start', '--name', names[2]!], { env: { DOCKER_HOST: 'unix:///tmp/no-docker-here.sock' } });
    assert.equal(noEngine.code, 4);
    assertOneSentence(noEngine.stderr);
    assert.match(noEngine.stderr, /Docker engine .* does not answer/);

    const noEngineList = await env.cli(['list', '--json'], { env: { DOCKER_HOST: 'unix:///tmp/no-docker-here.sock' } });
    assert.equal(noEngineList.code, 4);
    assert.equal((JSON.parse(noEngineList.stdout) as { error: { code: string } }).error.code, 'engine-unavailable');

    const noFolder = await env.cli(['sync', 'push']);
    assert.equal(noFolder.code, 2);
    assertOneSentence(noFolder.stderr);

    await assertNothingMade(before, { names: [...names, 'Bad_Name!'] });
  });

  it('refuses an image that is not a sandbox image, and explains a sandbox that exits as it starts; neither leaves anything', async function () {
    // A plain Debian: the base our image was built on, under a tag of this test's own.
    const sandboxImage = await docker.getImage(sandboxImageTag()).inspect();
    const baseId = sandboxImage.Config.Labels![IMAGE_LABELS.base]!.split('@').pop()!;
    const plain = { repo: 'agent-sandboxes-test/plain', tag: uniqueName('t') };
    await docker.getImage(baseId).tag(plain);
    // One of ours whose init fails at once, printing a control sequence it must not get onto our terminal.
    const broken = `agent-sandboxes-test/broken:${uniqueName('t')}`;
    const context = pack();
    context.entry({ name: 'Dockerfile' }, `FROM ${sandboxImageTag()}\nENTRYPOINT ["/bin/sh", "-c", "printf 'no keys \\\\033[31mhere\\\\n' >&2; exit 3"]\n`);
    context.finalize();
    await new Promise((resolve, reject) =>
      docker
        .buildImage(context as unknown as NodeJS.ReadableStream, { t: broken })
        .then((stream) => docker.modem.followProgress(stream, (error, output) => (error ? reject(error) : resolve(output))), reject),
    );
    const folder = tempDir();
    await fs.writeFile(path.join(folder, 'a.txt'), 'a\n');
    const before = await footprint(env.stateDir);
    const nothingLeft = async (name: string) => {
      await assertNothingMade(before, { names: [name] });
      assert.deepEqual(await fs.readdir(path.join(env.stateDir, 'ssh', 'keys')).catch(() => []), [], 'no keys');
      assert.deepEqual(await fs.readdir(path.join(env.stateDir, 'journal')).catch(() => []), [], 'no journal');
      assert.doesNotMatch(await fs.readFile(env.store.sshConfigPath, 'utf8').catch(() => ''), new RegExp(name), 'no SSH config entry');
    };
    try {
      const name = uniqueName('plain');
      const refused = await env.cli(['start', folder, '--image', `${plain.repo}:${plain.tag}`, '--name', name]);
      assert.equal(refused.code, 2, refused.stderr);
      assertOneSentence(refused.stderr);
      assert.match(refused.stderr, /is not a sandbox image: it has no sandbox init .*; use an image built with `sandbox image build`/);
      await nothingLeft(name);

      const failing = uniqueName('broken');
      const exited = await env.cli(['start', folder, '--image', broken, '--name', failing]);
      assert.equal(exited.code, 1, exited.stderr);
      assertOneSentence(exited.stderr);
      assert.match(
        exited.stderr,
        new RegExp(
          `^sandbox: The sandbox ${failing} could not start: its machine exited as it started, last saying "no keys  ?\\[31mhere", so nothing was kept`,
        ),
      );
      assert.doesNotMatch(exited.stderr, /start it with/);
      await nothingLeft(failing);
    } finally {
      await docker
        .getImage(`${plain.repo}:${plain.tag}`)
        .remove()
        .catch(() => undefined);
      await docker
        .getImage(broken)
        .remove({ force: true })
        .catch(() => undefined);
    }
  });

  for (const moment of ['record', 'container'] as const) {
    it(`recovers from a CLI killed with SIGKILL in the middle of start (after the ${moment} appears)`, async function () {
      const name = uniqueName(`crash-${moment}`);
      const before = await footprint(env.stateDir);
      // A folder big enough that the push keeps the start busy after the container exists.
      const local = tempDir();
      for (let i = 0; i < 40; i++) await fs.writeFile(path.join(local, `blob-${i}`), Buffer.alloc(1024 * 1024, i));
      const child = spawn(process.execPath, [CLI, 'start', local, '--name', name], {
        env: { ...process.env, AGENT_SANDBOXES_HOME: env.stateDir },
        stdio: 'ignore',
      });
      const ownerId = await env.ownerId();
      if (moment === 'record') {
        await waitFor(async () => (await env.store.listRecords()).find((r) => r.name === name), 20_000, 'the record');
      } else {
        await waitFor(
          async () => (await docker.listContainers({ all: true, filters: { label: [`${LABELS.owner}=${ownerId}`, `${LABELS.name}=${name}`] } }))[0],
          20_000,
          'the container',
        );
      }
      child.kill('SIGKILL');
      await new Promise((resolve) => child.on('close', resolve));

      const listed = await env.cli(['list', '--json']);
      assert.equal(listed.code, 0, listed.stderr);
      const leftover = (JSON.parse(listed.stdout) as { id: string; name: string; state: string; problem?: string }[]).find((r) => r.name === name);
      assert.ok(leftover, 'the interrupted sandbox is listed');
      assert.equal(leftover.state, 'error');
      assert.match(leftover.problem ?? '', /interrupted/);

      const cleanup = moment === 'record' ? await env.cli(['rm', name]) : await env.cli(['prune']);
      assert.equal(cleanup.code, 0, cleanup.stderr);
      await assertNothingMade(before, { names: [name], ids: [leftover.id] });
      assert.equal(existsSync(path.join(env.stateDir, 'manifests')) && (await fs.readdir(path.join(env.stateDir, 'manifests'))).length > 0, false);
    });
  }
});
