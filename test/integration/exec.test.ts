import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import * as path from 'node:path';
import { SandboxController } from '../../src/core/controller';
import type { SandboxRecord } from '../../src/core/model';
import { isSandboxError } from '../../src/core/errors';
import { DockerProvider } from '../../src/core/providers/docker';
import { CLI, TestEnvironment, ensureImage, uniqueName, waitFor } from './helpers';

/** A command with a child that cleared its environment and double-forked into a session of its own. */
const ESCAPING = "env -i setsid sh -c 'sleep 309 > /dev/null 2>&1 &'; sleep 308";

/** A process with its own controller that runs a command and waits: argv state dir, channel, sandbox, command. */
const OWNER_SCRIPT = `
const [stateDir, channel, id, command] = process.argv.slice(1);
const { SandboxController } = require(${JSON.stringify(path.join(__dirname, '../../src/core/controller.js'))});
const { DockerProvider } = require(${JSON.stringify(path.join(__dirname, '../../src/core/providers/docker'))});
const { StateStore } = require(${JSON.stringify(path.join(__dirname, '../../src/core/store/stateStore.js'))});
const provider = new DockerProvider({ execChannel: channel === 'ssh' ? 'docker' : channel });
const controller = new SandboxController({ store: new StateStore(stateDir), providers: { docker: provider }, execChannel: channel === 'ssh' ? 'ssh' : 'auto' });
controller.exec(id, { command }).then(() => process.exit(0), () => process.exit(1));
`;

/** Long enough for a loaded machine to start a command and for a probe to see it, before the timeout kills it. */
const KILL_TIMEOUT_MS = 4000;

// One suite, run over every way a command can reach a sandbox: they must not differ.
for (const channel of ['docker', 'agent', 'ssh'] as const) {
  describe(`exec in a Docker sandbox (${channel} channel)`, function () {
    const env = new TestEnvironment();
    const provider = new DockerProvider({ execChannel: channel === 'ssh' ? 'docker' : channel });
    const controller = new SandboxController({ store: env.store, providers: { docker: provider }, execChannel: channel === 'ssh' ? 'ssh' : 'auto' });
    let sandbox: SandboxRecord;

    before(async function () {
      await ensureImage();
      sandbox = await controller.create({ name: uniqueName(`exec-${channel}`), agentId: 'exec-test' });
    });
    after(async () => {
      controller.dispose();
      provider.dispose();
      await env.dispose();
    });

    const run = (command: string[] | string, extra: object = {}) => controller.exec(sandbox.id, { command, ...extra });

    /** Processes in the sandbox whose command line contains `needle`, not counting the probe itself. */
    async function processesMatching(needle: string): Promise<string[]> {
      const result = await controller.exec(sandbox.id, { command: ['ps', '-eo', 'pid,args'], user: 'root' });
      return result.stdout.split('\n').filter((line) => line.includes(needle));
    }

    /** Whether a process whose command line starts with `commandLine` runs (a shell quoting it does not count). */
    async function runs(commandLine: string): Promise<boolean> {
      const result = await controller.exec(sandbox.id, { command: ['ps', '-eo', 'args'], user: 'root' });
      return result.stdout.split('\n').some((line) => line.startsWith(commandLine));
    }

    it('returns exit codes as results: 0, 7, 126 and 127', async function () {
      assert.equal((await run(['true'])).exitCode, 0);
      assert.equal((await run('exit 7')).exitCode, 7);
      assert.equal((await run('printf "x" > /tmp/not-executable; chmod -x /tmp/not-executable; /tmp/not-executable')).exitCode, 126);
      assert.equal((await run('no-such-program-anywhere')).exitCode, 127);
    });

    it('reports a program that cannot start as a clear error', async function () {
      await assert.rejects(run(['no-such-program-anywhere']), (error: unknown) => {
        assert.ok(isSandboxError(error, 'command-failed-to-start'));
        assert.match(error.message, /no-such-program-anywhere was not found/);
        return true;
      });
      await assert.rejects(run(['true'], { cwd: '/no/such/dir' }), (error: unknown) => isSandboxError(error, 'command-failed-to-start'));
    });

    it('keeps stdout and stderr apart and streams them as they come', async function () {
      // The command goes on only once the test has seen its first line: output held back until the end never lets it.
      const flag = `/tmp/${uniqueName('first-line-seen')}`;
      const seen: string[] = [];
      let flagged: Promise<unknown> | undefined;
      const result = await run(
        `echo out; echo err >&2; i=0; while [ ! -e ${flag} ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done; [ -e ${flag} ] && echo late || echo "no flag after 30 s"`,
        {
          onStdout: (chunk: Buffer) => {
            seen.push(chunk.toString());
            flagged ??= run(['touch', flag]);
          },
        },
      );
      await flagged;
      assert.equal(result.stdout, 'out\nlate\n', 'the first line reached the test while the command still ran');
      assert.equal(result.stderr, 'err\n');
      assert.deepEqual(seen, ['out\n', 'late\n'], 'the two writes arrive as two chunks, the first before the command ends');
    });

    it('passes 1 MB of output whole, and says when a cap cut it', async function () {
      const whole = await run(['python3', '-c', 'import sys; sys.stdout.write("a" * 1_000_000)']);
      assert.equal(whole.stdoutBytes, 1_000_000);
      assert.equal(whole.stdout.length, 1_000_000);
      assert.equal(whole.truncated, false);
      const capped = await run(['python3', '-c', 'import sys; sys.stdout.write("b" * 1_000_000)'], { maxOutputBytes: 1000 });
      assert.equal(capped.stdout.length, 1000);
      assert.equal(capped.stdoutBytes, 1_000_000);
      assert.equal(capped.truncated, true);
    });

    it('feeds stdin and honours cwd, env and user', async function () {
      const echoed = await run(['wc', '-c'], { stdin: 'x'.repeat(12345) });
      assert.equal(echoed.stdout.trim(), '12345');
      const context = await run('pwd; echo "$GREETING"; id -un', { cwd: '/tmp', env: { GREETING: 'hi there' } });
      assert.equal(context.stdout, '/tmp\nhi there\nagent\n');
      assert.equal((await run(['id', '-u'], { user: 'root' })).stdout.trim(), '0');
    });

    /**
     * Runs `command` with a timeout long enough to see every process of `needles` (command lines) running first,
     * so the kill that follows has something to kill; fails if they never all show up.
     */
    async function runUntilTimeout(command: string[] | string, needles: string[], timeoutMs = KILL_TIMEOUT_MS) {
      let ended = false;
      const running = run(command, { timeoutMs }).finally(() => (ended = true));
      const seen = await waitFor(
        async () => {
          if (ended) return 'ended';
          const found = await Promise.all(needles.map(runs));
          return found.every(Boolean) && !ended ? 'running' : undefined;
        },
        timeoutMs,
        `${needles.join(' and ')} to run`,
      );
      assert.equal(seen, 'running', `${needles.join(' and ')} never ran before the timeout`);
      return running;
    }

    it('kills the command and its children on timeout', async function () {
      const started = Date.now();
      const result = await runUntilTimeout('sleep 301 & sleep 302; wait', ['sleep 301', 'sleep 302']);
      assert.equal(result.timedOut, true);
      assert.equal(result.exitCode, null);
      assert.ok(result.signal === 'SIGTERM' || result.signal === 'SIGKILL', `signal ${result.signal}`);
      assert.ok(Date.now() - started < KILL_TIMEOUT_MS + 5000);
      assert.deepEqual(await processesMatching('sleep 30'), []);
    });

    it('kills a command that ignores SIGTERM', async function () {
      const result = await runUntilTimeout(['sh', '-c', 'trap "" TERM; sleep 303 & wait; sleep 303'], ['sleep 303']);
      assert.equal(result.timedOut, true);
      assert.equal(result.signal, 'SIGKILL');
      assert.deepEqual(await processesMatching('sleep 303'), []);
    });

    it('kills the command when cancelled through an AbortSignal', async function () {
      const abort = new AbortController();
      let ended = false;
      const running = run(['python3', '-c', 'import time; time.sleep(304)'], { signal: abort.signal }).finally(() => (ended = true));
      await waitFor(() => runs('python3 -c import time; time.sleep(304)'), 20_000, 'the command to run');
      assert.equal(ended, false);
      abort.abort();
      const result = await running;
      assert.equal(result.cancelled, true);
      assert.equal(result.timedOut, false);
      assert.deepEqual(await processesMatching('time.sleep(304)'), []);
    });

    it('kills a child that left the process tree and its session', async function () {
      // The subshell starts a new session and exits: its child is an orphan of init, found by its environment only.
      const result = await runUntilTimeout('(setsid sleep 305 > /dev/null 2>&1 &); sleep 306', ['sleep 305', 'sleep 306']);
      assert.equal(result.timedOut, true);
      assert.deepEqual(await processesMatching('sleep 30'), []);
    });

    it('kills on timeout what cleared its environment and double-forked into a new session', async function () {
      const result = await runUntilTimeout("env -i setsid sh -c 'sleep 307 &'", ['sleep 307']);
      assert.equal(result.timedOut, true);
      assert.deepEqual(await processesMatching('sleep 307'), []);
    });

    it('kills the command of a process killed with SIGKILL at the next call', async function () {
      // The owner: the CLI itself on the engine's channel, a process with its own controller on the others.
      const owner =
        channel === 'docker'
          ? spawn(process.execPath, [CLI, 'exec', sandbox.id, '--', 'sh', '-c', ESCAPING], {
              env: { ...process.env, AGENT_SANDBOXES_HOME: env.stateDir },
              stdio: 'ignore',
            })
          : spawn(process.execPath, ['-e', OWNER_SCRIPT, env.stateDir, channel, sandbox.id, ESCAPING], { stdio: 'ignore' });
      await waitFor(
        async () => (await processesMatching('sleep 309')).length > 0 && (await processesMatching('sleep 308')).length > 0,
        20_000,
        'the command to run',
      );
      owner.kill('SIGKILL');
      await new Promise((resolve) => owner.once('exit', resolve));
      await controller.list();
      // The engine's and SSH's commands are killed by that call; the agent's die with their agent.
      await waitFor(async () => (await processesMatching('sleep 30')).length === 0, channel === 'agent' ? 5000 : 100, 'the orphaned command to be killed');
    });

    it('runs commands as the sandbox user, other users through sudo, with no stdin unless given', async function () {
      const asAgent = await run('id -un; echo "HOME=$HOME"; grep -E "^CapEff" /proc/self/status');
      assert.match(asAgent.stdout, /^agent\nHOME=\/home\/agent\nCapEff:\t0+\n$/);
      assert.equal((await run('id -un; echo "$HOME"', { user: 'root' })).stdout, 'root\n/root\n');
      assert.equal((await run(['cat'])).stdout, '', 'without stdin, cat ends at once');
      await assert.rejects(run(['true'], { user: 'nobody-here' }), (error: unknown) => isSandboxError(error, 'command-failed-to-start'));
    });

    // The engine's own identity rules (unknown uids, user:group) apply to its channels only.
    if (channel !== 'ssh')
      it('gives a command the environment, identity and stdin of docker exec', async function () {
        const probe =
          'id; echo "HOME=$HOME"; grep -E "^(Uid|Gid|Groups|CapEff)" /proc/self/status; env | grep -v SANDBOX_EXEC_ID | sort; ls -l /proc/self/fd/0 | sed "s/.*-> //"';
        const asAgent = await run(probe);
        assert.match(asAgent.stdout, /^uid=1000\(agent\) gid=1000\(agent\) groups=1000\(agent\)\nHOME=\/home\/agent\n/);
        assert.match(asAgent.stdout, /^Uid:\t1000\t1000\t1000\t1000$/m);
        assert.match(asAgent.stdout, /^CapEff:\t0+$/m);
        assert.match(asAgent.stdout, /^PATH=\/usr\/local\/sbin:\/usr\/local\/bin:\/usr\/sbin:\/usr\/bin:\/sbin:\/bin$/m);
        assert.match(asAgent.stdout, /^\/dev\/null$/m);
        const withGroup = await run(['id'], { user: 'agent:staff' });
        assert.equal(withGroup.stdout, 'uid=1000(agent) gid=50(staff) groups=50(staff)\n');
        const unknownUid = await run('id; echo "$HOME"', { user: '1234' });
        assert.equal(unknownUid.stdout, 'uid=1234 gid=0(root) groups=0(root)\n/\n');
        assert.equal((await run('echo "$HOME"', { user: 'root' })).stdout, '/root\n');
        assert.equal((await run(['cat'])).stdout, '', 'without stdin, cat ends at once');
      });

    it('reports death by a signal the way the engine does', async function () {
      // Not a timeout or cancel: the engine's 128 + signal stays the exit code.
      const result = await run('kill -9 $$');
      assert.equal(result.exitCode, 137);
      assert.equal(result.signal, undefined);
    });

    it('journals every exec without environment values', async function () {
      await run(['echo', 'journalled'], { env: { SECRET_TOKEN: 'do-not-log-me' } });
      const journal = await env.store.readJournal(sandbox.id);
      const entry = journal.find((e) => e.kind === 'exec' && Array.isArray(e.command) && e.command[1] === 'journalled');
      assert.ok(entry && entry.kind === 'exec');
      assert.equal(entry.exitCode, 0);
      assert.equal(entry.stdout, 'journalled\n');
      assert.deepEqual(entry.envKeys, ['SECRET_TOKEN']);
      assert.ok(!JSON.stringify(journal).includes('do-not-log-me'));

      // The state dir's events.jsonl tells the same command to other processes, without env values or output.
      const logged = (await controller.eventLog.read(0)).events.filter(
        (e) => e.sandboxId === sandbox.id && e.type.startsWith('exec.') && 'command' in e && e.command === 'echo journalled',
      );
      assert.deepEqual(
        logged.map((e) => e.type),
        ['exec.started', 'exec.ended'],
      );
      const ended = logged[1]!;
      assert.ok(ended.type === 'exec.ended');
      assert.equal(ended.exitCode, 0);
      assert.equal(ended.channel, ({ docker: 'provider', agent: 'agent', ssh: 'ssh' } as const)[channel]);
      assert.deepEqual(ended.envKeys, ['SECRET_TOKEN']);
      const text = await readFile(controller.eventLog.file, 'utf8');
      assert.ok(!text.includes('do-not-log-me') && !text.includes('journalled\\n'), 'no env value nor output in events.jsonl');
    });
  });
}
