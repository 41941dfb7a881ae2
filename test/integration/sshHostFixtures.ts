import * as assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import type { TtySession } from '../../src/core/exec/terminal';
import { fingerprint } from '../../src/core/ssh/keys';
import type { SshHost } from '../../src/core/hosts/registry';
import { LABELS } from '../../src/core/labels';
import { containerOwner } from '../../src/core/providers/sshHost';
import { docker, runProgram, tempDir, waitFor, type ProgramRun, type TestEnvironment } from './helpers';

/** The JSON a CLI run printed, after asserting it succeeded. */
export function parseJson<T>(result: ProgramRun): T {
  assert.equal(result.code, 0, `exit ${result.code}: ${result.stderr}${result.stdout}`);
  return JSON.parse(result.stdout) as T;
}

/** What a terminal has shown so far, and a wait for a pattern to show. */
export function readTerminal(terminal: TtySession): { shows: (pattern: RegExp) => Promise<void> } {
  let output = '';
  terminal.onData((data) => (output += data.toString()));
  return {
    shows: async (pattern) => {
      await waitFor(() => pattern.test(output) || undefined, 15_000, `${pattern} in the terminal`).catch((error: Error) => {
        throw new Error(`${error.message}; it shows ${JSON.stringify(output.slice(-600))}`);
      });
    },
  };
}

/** A free port on 127.0.0.1, for a server we start ourselves. */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** An OpenSSH server of our own on 127.0.0.1, logging in as root (who can use the local engine) with a key made here. */
export interface RootSshd {
  port: number;
  /** The listening sshd's process id: what it runs for a login is in its tree. */
  pid: number;
  /** Holds host_key, client_key (and .pub), authorized_keys, sshd_config. */
  dir: string;
  clientKey: string;
  hostFingerprint: string;
  stop(): Promise<void>;
}

export async function startRootSshd(extraConfig: string[] = []): Promise<RootSshd> {
  const dir = tempDir('ssh-host-sshd-');
  const port = await freePort();
  for (const key of ['host_key', 'client_key']) {
    const made = await runProgram('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', key, '-f', path.join(dir, key)]);
    assert.equal(made.code, 0, made.stderr);
  }
  await fs.copyFile(path.join(dir, 'client_key.pub'), path.join(dir, 'authorized_keys'));
  const hostFingerprint = fingerprint(await fs.readFile(path.join(dir, 'host_key.pub'), 'utf8'));
  const config = [
    `Port ${port}`,
    'ListenAddress 127.0.0.1',
    `HostKey ${path.join(dir, 'host_key')}`,
    `AuthorizedKeysFile ${path.join(dir, 'authorized_keys')}`,
    'PermitRootLogin prohibit-password',
    'PubkeyAuthentication yes',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'UsePAM no',
    'StrictModes no', // the key files sit under /tmp
    'AllowTcpForwarding yes',
    'PidFile none',
    ...extraConfig,
    '',
  ].join('\n');
  await fs.writeFile(path.join(dir, 'sshd_config'), config);
  await fs.mkdir('/run/sshd', { recursive: true, mode: 0o755 }); // sshd's privilege separation directory
  const log: Buffer[] = [];
  const sshd: ChildProcess = spawn('/usr/sbin/sshd', ['-f', path.join(dir, 'sshd_config'), '-D', '-e'], { stdio: ['ignore', 'ignore', 'pipe'] });
  sshd.stderr!.on('data', (chunk: Buffer) => log.push(chunk));
  await waitFor(
    () =>
      new Promise<boolean>((resolve) => {
        if (sshd.exitCode !== null) throw new Error(`sshd exited: ${Buffer.concat(log).toString()}`);
        const socket = net.connect(port, '127.0.0.1', () => (socket.destroy(), resolve(true)));
        socket.on('error', () => resolve(false));
      }),
    10_000,
    'our sshd to listen',
  );
  return {
    port,
    pid: sshd.pid!,
    dir,
    clientKey: path.join(dir, 'client_key'),
    hostFingerprint,
    async stop() {
      if (sshd.pid !== undefined && sshd.exitCode === null) {
        const exited = new Promise((resolve) => sshd.once('exit', resolve));
        process.kill(sshd.pid, 'SIGTERM');
        await exited;
      }
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
}

/** Registers our sshd as a host through the CLI (`host add`), its key pinned by fingerprint. */
export function addRootSshdHost(env: TestEnvironment, name: string, sshd: RootSshd, ...extra: string[]) {
  return env.cli([
    'host',
    'add',
    name,
    '--host',
    '127.0.0.1',
    '--port',
    String(sshd.port),
    '--user',
    'root',
    '--identity',
    sshd.clientKey,
    '--fingerprint',
    sshd.hostFingerprint,
    ...extra,
  ]);
}

/** Removes the containers made through a registered host: they carry an owner label of their own. */
export async function removeHostContainers(env: TestEnvironment, hostName: string): Promise<void> {
  const owner = containerOwner(await env.ownerId(), { name: hostName } as SshHost);
  for (const container of await docker.listContainers({ all: true, filters: { label: [`${LABELS.owner}=${owner}`] } })) {
    await docker
      .getContainer(container.Id)
      .remove({ force: true, v: true })
      .catch(() => undefined);
  }
}
