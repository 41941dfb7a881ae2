import { SandboxError, describeError, isSandboxError } from '../../errors';
import { loadCredentials } from '../../hosts/credentials';
import { PROBE_SCRIPT, parseFacts, type HostFacts } from '../../hosts/directory';
import type { SshHost } from '../../hosts/registry';
import { SshSession, targetFor, type SshSessionOptions } from '../../ssh/session';
import { sshExec } from '../../transport/sshExec';
import { DockerProvider } from '../docker';
import { dockerOverSsh } from '../../ssh/dockerOverSsh';

/** Listing many hosts must not wait long for one that is down. */
const HOST_SESSION_DEFAULTS: SshSessionOptions = { connectAttempts: 2, readyTimeoutMs: 8000 };
const SCRIPT_OUTPUT_BYTES = 4 * 1024 * 1024;

/** What this process holds open to each host: its SSH session, its engine client, what it found there. */
export class HostConnections {
  private readonly sessionOptions: SshSessionOptions;
  private readonly sessions = new Map<string, SshSession>();
  private readonly engines = new Map<string, DockerProvider>();
  private readonly facts = new Map<string, Promise<HostFacts>>();

  constructor(ssh?: SshSessionOptions) {
    this.sessionOptions = { ...HOST_SESSION_DEFAULTS, ...ssh };
  }

  /** The management connection to a host, with its pinned key only. */
  session(host: SshHost): SshSession {
    let session = this.sessions.get(host.name);
    if (!session) {
      session = new SshSession(async () => targetFor(`host ${host.name}`, host, await loadCredentials(host)), this.sessionOptions);
      this.sessions.set(host.name, session);
    }
    return session;
  }

  engine(host: SshHost): DockerProvider {
    let engine = this.engines.get(host.name);
    if (!engine) {
      // Each engine request may open a channel, which starts the host user's login shell: patience.
      engine = new DockerProvider({ docker: dockerOverSsh(host, this.session(host)), execChannel: 'docker', pingTimeoutMs: 20_000, engineHost: 'remote' });
      this.engines.set(host.name, engine);
    }
    return engine;
  }

  /** Runs a management script on the host; a failure is one sentence naming the host. */
  async run(host: SshHost, script: string, args: string[], action: string, stdin?: string): Promise<string> {
    const result = await sshExec(
      this.session(host),
      { command: ['/bin/sh', '-c', script, 'agent-sandboxes', ...args], stdin, maxOutputBytes: SCRIPT_OUTPUT_BYTES },
      { loginUser: host.user, cwd: '/' },
    );
    if (result.exitCode !== 0) {
      const detail = result.stderr
        .split('\n')
        .find((line) => line.trim() !== '')
        ?.replace(/[\u0000-\u001f\u007f]/g, '?')
        .slice(0, 300);
      throw new SandboxError(
        'provider-error',
        `Could not ${action} on host ${host.name} (exit code ${result.exitCode}${detail ? `: ${detail}` : ''}); check the host, then try again.`,
      );
    }
    return result.stdout;
  }

  hostFacts(host: SshHost): Promise<HostFacts> {
    let facts = this.facts.get(host.name);
    if (!facts) {
      facts = this.run(host, PROBE_SCRIPT, [], 'look at the machine').then(parseFacts);
      facts.catch(() => this.facts.delete(host.name));
      this.facts.set(host.name, facts);
    }
    return facts;
  }

  /** The engine's own messages name DOCKER_HOST and systemctl; over SSH the fix is on the host. */
  async onEngine<T>(host: SshHost, work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      if (isSandboxError(error, 'engine-unavailable')) {
        throw new SandboxError(
          'engine-unavailable',
          `The Docker engine of host ${host.name} does not answer over SSH (${describeError(error.cause ?? error)}); check that \`docker version\` works for ${host.user} there.`,
          { cause: error },
        );
      }
      throw error;
    }
  }

  /** Closes what this process holds open to one host (after `host rm`). */
  forget(name: string): void {
    this.sessions.get(name)?.close();
    this.sessions.delete(name);
    this.engines.get(name)?.dispose();
    this.engines.delete(name);
    this.facts.delete(name);
  }

  dispose(): void {
    for (const name of [...this.sessions.keys(), ...this.engines.keys()]) this.forget(name);
  }
}
