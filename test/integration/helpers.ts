import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import Dockerode from 'dockerode';
import { SandboxController } from '../../src/core/controller';
import { DockerProvider } from '../../src/core/providers/docker';
import { ensureSandboxImage } from '../../src/core/images';
import { SIDECAR_LABEL } from '../../src/core/network/dockerPolicy';
import { LABELS } from '../../src/core/labels';
import { StateStore } from '../../src/core/store/stateStore';

export const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');
export const CLI = path.join(REPO_ROOT, 'dist', 'cli.js');
export const docker = new Dockerode();

let imageReady: Promise<unknown> | undefined;

/** The sandbox image; built once per run if CI has not built it already. Fails (never skips) without an engine. */
export function ensureImage(): Promise<unknown> {
  imageReady ??= ensureSandboxImage(docker, {});
  return imageReady;
}

/** A controller with its own state dir (so its own owner id), cleaned up by `dispose`. */
export class TestEnvironment {
  readonly stateDir = mkdtempSync(path.join(os.tmpdir(), 'sandbox-test-'));
  readonly store = new StateStore(this.stateDir);
  readonly controller = new SandboxController({ store: this.store });

  async ownerId(): Promise<string> {
    return this.store.ownerId();
  }

  /** Containers carrying this environment's owner label. */
  async containers(extraLabel?: string): Promise<Dockerode.ContainerInfo[]> {
    const labels = [`${LABELS.owner}=${await this.ownerId()}`];
    if (extraLabel) labels.push(extraLabel);
    return docker.listContainers({ all: true, filters: { label: labels } });
  }

  /** Runs the built CLI against this state dir. */
  cli(args: string[], options: { env?: NodeJS.ProcessEnv; stdin?: string } = {}): Promise<CliResult> {
    return runCli(args, { ...options, env: { AGENT_SANDBOXES_HOME: this.stateDir, ...options.env } });
  }

  async dispose(): Promise<void> {
    this.controller.dispose();
    for (const container of await this.containers()) {
      await removeWithSidecars(container.Id);
    }
    await fs.rm(this.stateDir, { recursive: true, force: true });
  }
}

/** Removes a container and the sidecars serving its network namespace (an allowlist's resolver). */
export async function removeWithSidecars(containerId: string): Promise<void> {
  for (const sidecar of await docker.listContainers({ all: true, filters: { label: [`${SIDECAR_LABEL}=${containerId}`] } })) {
    await docker
      .getContainer(sidecar.Id)
      .remove({ force: true })
      .catch(() => undefined);
  }
  await docker
    .getContainer(containerId)
    .remove({ force: true, v: true })
    .catch(() => undefined);
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function runCli(args: string[], options: { env?: NodeJS.ProcessEnv; stdin?: string } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      env: { ...process.env, ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(options.stdin ?? '');
  });
}

export function uniqueName(prefix: string): string {
  return `${prefix}-${Math.random().toString(36).slice(2, 8)}`;
}

export function tempDir(prefix = 'sandbox-local-'): string {
  return mkdtempSync(path.join(os.tmpdir(), prefix));
}

export async function waitFor<T>(probe: () => Promise<T | undefined> | T | undefined, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * A script as root in a container over the engine's API: the channel a test trusts to look at
 * (or tamper with, playing the attacker) a sandbox or a stand-in host. Rejects on a non-zero exit.
 */
export async function rootExec(containerId: string, script: string): Promise<string> {
  const exec = await docker.getContainer(containerId).exec({ Cmd: ['sh', '-c', script], User: 'root', AttachStdout: true, AttachStderr: true });
  const stream = await exec.start({ hijack: true, stdin: false });
  const chunks: Buffer[] = [];
  const sink = new Writable({ write: (chunk: Buffer, _encoding, done) => (chunks.push(chunk), done()) });
  docker.modem.demuxStream(stream, sink, sink);
  await new Promise((resolve) => stream.on('end', resolve));
  const output = Buffer.concat(chunks).toString();
  const { ExitCode } = await exec.inspect();
  if (ExitCode !== 0) throw new Error(`\`${script}\` exited ${ExitCode} in ${containerId.slice(0, 12)}: ${output}`);
  return output;
}

export interface ProgramRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** A command in a running container (as root unless `user` says), to its end: its exit code and each stream's output. */
export async function execIn(containerId: string, cmd: string[], options: { user?: string; env?: string[]; workdir?: string } = {}): Promise<ProgramRun> {
  const exec = await docker.getContainer(containerId).exec({
    Cmd: cmd,
    User: options.user ?? 'root',
    Env: options.env,
    WorkingDir: options.workdir,
    AttachStdout: true,
    AttachStderr: true,
  });
  const stream = await exec.start({ hijack: true, stdin: false });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const sink = (chunks: Buffer[]) => new Writable({ write: (chunk: Buffer, _encoding, done) => (chunks.push(chunk), done()) });
  docker.modem.demuxStream(stream, sink(out), sink(err));
  await new Promise<void>((resolve, reject) => {
    stream.on('end', resolve);
    stream.on('close', resolve);
    stream.on('error', reject);
  });
  await new Promise((resolve) => setImmediate(resolve)); // the demuxer's last writes
  const { ExitCode } = await exec.inspect();
  return { code: ExitCode, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() };
}

/** A local program's exit code and output; never rejects. */
export function runProgram(command: string, args: string[], options: { env?: NodeJS.ProcessEnv } = {}): Promise<ProgramRun> {
  return new Promise((resolve) => {
    execFile(command, args, { env: { ...process.env, ...options.env }, timeout: 60_000 }, (error, stdout, stderr) => {
      const code: unknown = error ? (error as { code?: unknown }).code : 0;
      resolve({ code: typeof code === 'number' ? code : null, stdout, stderr });
    });
  });
}

/** One controller per exec channel over one state dir (the engine's exec, the exec agent, SSH), and their disposal. */
export function controllersPerChannel(store: StateStore): {
  channels: Record<'docker' | 'agent' | 'ssh', SandboxController>;
  docker: DockerProvider;
  dispose: () => void;
} {
  const docker = new DockerProvider({ execChannel: 'docker' });
  const agent = new DockerProvider({ execChannel: 'agent' });
  const channels = {
    docker: new SandboxController({ store, providers: { docker } }),
    agent: new SandboxController({ store, providers: { docker: agent } }),
    ssh: new SandboxController({ store, providers: { docker }, execChannel: 'ssh' }),
  };
  return {
    channels,
    docker,
    dispose: () => {
      for (const controller of Object.values(channels)) controller.dispose();
      docker.dispose();
      agent.dispose();
    },
  };
}
