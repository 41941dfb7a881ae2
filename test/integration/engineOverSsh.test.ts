import * as assert from 'node:assert/strict';
import { promises as fs, readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import type Dockerode from 'dockerode';
import { dockerOverSsh } from '../../src/core/ssh/dockerOverSsh';
import { SshSession, targetFor } from '../../src/core/ssh/session';
import { waitFor } from './helpers';
import { startRootSshd, type RootSshd } from './sshHostFixtures';

/** Process ids in the tree under `root` whose command line contains `text` (children only with `depth` 1). */
function descendantsRunning(root: number, text: string, depth = Infinity): number[] {
  const parentOf = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      parentOf.set(Number(entry), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // gone meanwhile
    }
  }
  const under = (pid: number): boolean => {
    let level = 1;
    for (let at = parentOf.get(pid); at !== undefined && at > 1 && level <= depth; at = parentOf.get(at), level++) if (at === root) return true;
    return false;
  };
  return [...parentOf.keys()].filter((pid) => {
    if (!under(pid)) return false;
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(text);
    } catch {
      return false;
    }
  });
}

/** Fails with `what` when `work` has not settled within `ms`: a hang is the failure these tests look for. */
async function within<T>(ms: number, what: string, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms)));
  try {
    return await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
  }
}

describe("a host's Docker engine over its SSH session", function () {
  this.timeout(120_000);
  let sshd: RootSshd;
  let session: SshSession;
  let docker: Dockerode;

  before(async function () {
    sshd = await startRootSshd();
    const hostKey = (await fs.readFile(path.join(sshd.dir, 'host_key.pub'), 'utf8')).trim().split(' ').slice(0, 2).join(' ');
    const privateKey = await fs.readFile(sshd.clientKey);
    session = new SshSession(async () => targetFor('test host', { host: '127.0.0.1', port: sshd.port, user: 'root', hostKey }, { privateKey }));
    docker = dockerOverSsh({ host: '127.0.0.1', port: sshd.port }, session);
  });
  after(async () => {
    session?.close();
    await sshd?.stop();
  });

  it('answers bursts of requests far above its pooled connections, and gives every channel back', async function () {
    for (let round = 1; round <= 4; round++) {
      const answers = await within(30_000, `round ${round} of 16 engine requests at once`, Promise.all(Array.from({ length: 16 }, () => docker.version())));
      assert.ok(answers.every((answer) => typeof answer.Version === 'string'));
    }
    // Only the agent's idle pooled connections (2) may keep a channel.
    await waitFor(() => session.channelsInUse <= 2 || undefined, 10_000, `the channels to be given back (${session.channelsInUse} in use)`);
  });

  it('drops a pooled connection whose engine end went away instead of sending the next request into it', async function () {
    await docker.version();
    const pooled = descendantsRunning(sshd.pid, 'dial-stdio');
    assert.ok(pooled.length > 0, 'an idle pooled connection runs dial-stdio on the host');
    for (const pid of pooled) process.kill(pid, 'SIGKILL');
    await waitFor(() => session.channelsInUse === 0 || undefined, 10_000, `the dead connections' channels to be given back (${session.channelsInUse} in use)`);
    const again = await within(15_000, 'the engine request after its pooled connections died', docker.version());
    assert.equal(typeof again.Version, 'string');
  });

  it('answers the next request after the SSH connection itself dropped, over a new one', async function () {
    await docker.version();
    // The server's process for our connection: ending it drops the connection with every channel.
    const connections = descendantsRunning(sshd.pid, 'sshd', 1);
    assert.ok(connections.length > 0, 'our connection has its own sshd process');
    for (const pid of connections) process.kill(pid, 'SIGKILL');
    await waitFor(() => !session.connected || undefined, 10_000, 'the session to notice the drop');
    const again = await within(15_000, 'the engine request after the connection dropped', docker.version());
    assert.equal(typeof again.Version, 'string');
    await waitFor(
      () => session.channelsInUse <= 2 || undefined,
      10_000,
      `the dropped connection's channels to be given back (${session.channelsInUse} in use)`,
    );
  });

  it('opens a channel again when the host refuses it at its session limit, once a slot is free there', async function () {
    const strict = await startRootSshd(['MaxSessions 1']);
    const hostKey = (await fs.readFile(path.join(strict.dir, 'host_key.pub'), 'utf8')).trim().split(' ').slice(0, 2).join(' ');
    const privateKey = await fs.readFile(strict.clientKey);
    const limited = new SshSession(async () => targetFor('strict host', { host: '127.0.0.1', port: strict.port, user: 'root', hostKey }, { privateKey }));
    const run = async (command: string) => {
      const { channel } = await limited.exec(command);
      let output = '';
      channel.on('data', (chunk: Buffer) => (output += chunk.toString()));
      await new Promise((resolve) => channel.on('close', resolve));
      return output.trim();
    };
    try {
      // The second channel is refused while the first holds the host's only session slot.
      assert.deepEqual(await Promise.all([run('sleep 0.3; echo first'), run('echo second')]), ['first', 'second']);
    } finally {
      limited.close();
      await strict.stop();
    }
  });
});
