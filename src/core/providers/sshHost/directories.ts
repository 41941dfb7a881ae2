import { SandboxError } from '../../errors';
import {
  CREATE_SCRIPT,
  LIST_SCRIPT,
  REMOVE_SCRIPT,
  SANDBOX_MARKER_ENV,
  SET_STATE_SCRIPT,
  SYSTEMD_REMOVE_SCRIPT,
  SYSTEMD_SETUP_SCRIPT,
  SYSTEMD_STOP_SCRIPT,
  directoryPaths,
  parseListing,
  prlimitPlan,
  runContext,
  sandboxesRoot,
  sliceName,
  sliceUnit,
  systemdPlan,
  type DirectoryMetadata,
  type HostFacts,
  type LimitPlan,
  type ListedDirectory,
} from '../../hosts/directory';
import { hostEndpoint, type SshHost } from '../../hosts/registry';
import type { ExecRequest, ExecResult } from '../../model';
import { validateProfile } from '../../profile';
import { killProcessesWithEnv, sshExec } from '../../transport/sshExec';
import type { CreatePlan, CreateRequest, CreateSpec, ProviderSandbox } from '../provider';
import type { HostConnections } from './hostConnections';
import { directoryRef } from './refs';

/**
 * Sandboxes on hosts without Docker for their user: a folder with its own marked processes and
 * the limits the host can give (a systemd slice, else rlimits).
 */
export class DirectorySandboxes {
  constructor(private readonly connections: HostConnections) {}

  async prepareCreate(host: SshHost, request: CreateRequest): Promise<CreatePlan> {
    const { profile, requested } = request;
    if (requested.image !== undefined) {
      throw new SandboxError(
        'invalid-input',
        `Host ${host.name} has no Docker engine for ${host.user}, so its sandboxes are directories and take no image; leave out --image.`,
      );
    }
    if (requested.desktop !== undefined) {
      throw new SandboxError('invalid-input', `A directory sandbox on host ${host.name} has no desktop (that needs a container); leave out --desktop.`);
    }
    if (requested.disk !== undefined) {
      throw new SandboxError('invalid-input', `A directory sandbox on host ${host.name} cannot have a disk limit; leave out --disk.`);
    }
    if ((requested.network !== undefined && requested.network !== 'open') || requested.hosts?.length) {
      throw new SandboxError(
        'invalid-input',
        `A directory sandbox on host ${host.name} uses the host's network as ${host.user} and cannot be fenced; leave out --network, --allow-domain and --add-host, or give the host Docker.`,
      );
    }
    const facts = await this.connections.hostFacts(host);
    if (requested.sudo === false && facts.sudo) {
      throw new SandboxError(
        'invalid-input',
        `A directory sandbox runs as ${host.user}, who has sudo on ${host.name}, and that cannot be taken away for one sandbox; leave out --no-sudo or add the host with a user without sudo.`,
      );
    }
    const checked = { ...profile, image: '', sudo: facts.sudo };
    validateProfile({ ...checked, image: 'directory' }, { cpus: facts.cpus, memory: facts.memory });
    return { profile: checked, user: host.user, workdir: directoryPaths(facts.home, request.id).workdir, sandboxKeys: false };
  }

  async create(host: SshHost, spec: CreateSpec): Promise<ProviderSandbox> {
    const facts = await this.connections.hostFacts(host);
    const paths = directoryPaths(facts.home, spec.id);
    const limits = await this.planLimits(host, spec, facts);
    const metadata: DirectoryMetadata = {
      format: 1,
      owner: spec.ownerId,
      host: host.name,
      id: spec.id,
      name: spec.name,
      agentId: spec.agentId,
      profile: spec.profile,
      user: host.user,
      createdAt: spec.createdAt,
      limits,
    };
    const now = new Date().toISOString();
    try {
      await this.connections.run(host, CREATE_SCRIPT, [paths.root, spec.id, now], 'make the sandbox folder', JSON.stringify(metadata));
    } catch (error) {
      if (limits.slice) await this.connections.run(host, SYSTEMD_REMOVE_SCRIPT, [limits.slice], 'remove the systemd slice').catch(() => undefined);
      throw error;
    }
    return this.fromDirectory(host, facts, { id: spec.id, state: 'running', since: now, metadata });
  }

  /** systemd's user manager where it takes the limits, else per-process rlimits; checked, never assumed. */
  private async planLimits(host: SshHost, spec: CreateSpec, facts: HostFacts): Promise<LimitPlan> {
    if (facts.systemd) {
      const slice = sliceName(spec.id);
      try {
        const observed = await this.connections.run(host, SYSTEMD_SETUP_SCRIPT, [slice], 'set up the systemd slice', sliceUnit(spec.name, spec.profile));
        const plan = systemdPlan(slice, spec.profile, observed);
        if (plan) return plan;
      } catch {
        // falls through to rlimits
      }
      await this.connections.run(host, SYSTEMD_REMOVE_SCRIPT, [slice], 'remove the systemd slice').catch(() => undefined);
    }
    return prlimitPlan(spec.profile, facts, host.user);
  }

  start(host: SshHost, id: string): Promise<ProviderSandbox> {
    return this.setState(host, id, 'running');
  }

  async stop(host: SshHost, id: string): Promise<ProviderSandbox> {
    const listed = await this.mustFind(host, id);
    await this.killAll(host, listed);
    return this.setState(host, id, 'stopped');
  }

  async remove(host: SshHost, id: string): Promise<void> {
    const facts = await this.connections.hostFacts(host);
    const paths = directoryPaths(facts.home, id);
    const listed = await this.find(host, id);
    if (listed) await this.killAll(host, listed);
    const slice = listed?.metadata.limits.slice;
    if (slice) await this.connections.run(host, SYSTEMD_REMOVE_SCRIPT, [slice], 'remove the systemd slice');
    await this.connections.run(host, REMOVE_SCRIPT, [paths.root, id], `remove ${paths.dir}`);
  }

  /** Every process carrying the sandbox's marker, and its slice when it has one. */
  private async killAll(host: SshHost, listed: ListedDirectory): Promise<void> {
    await killProcessesWithEnv(this.connections.session(host), `${SANDBOX_MARKER_ENV}=${listed.id}`);
    if (listed.metadata.limits.slice) await this.connections.run(host, SYSTEMD_STOP_SCRIPT, [listed.metadata.limits.slice], 'stop the systemd slice');
  }

  private async setState(host: SshHost, id: string, state: 'running' | 'stopped'): Promise<ProviderSandbox> {
    const facts = await this.connections.hostFacts(host);
    const now = new Date().toISOString();
    await this.connections.run(host, SET_STATE_SCRIPT, [directoryPaths(facts.home, id).root, id, state, now], `mark the sandbox ${state}`);
    const listed = await this.mustFind(host, id);
    return this.fromDirectory(host, facts, listed);
  }

  async list(host: SshHost, ownerId: string, only = ''): Promise<ProviderSandbox[]> {
    const facts = await this.connections.hostFacts(host);
    const root = sandboxesRoot(facts.home);
    const listed = parseListing(await this.connections.run(host, LIST_SCRIPT, [root, only], 'list the sandbox folders'), { ownerId, host: host.name });
    return listed.map((entry) => this.fromDirectory(host, facts, entry));
  }

  private async find(host: SshHost, id: string): Promise<ListedDirectory | undefined> {
    const facts = await this.connections.hostFacts(host);
    const root = directoryPaths(facts.home, id).root;
    // Any owner: the ref came from a record of ours, and a sandbox is found by its folder.
    const output = await this.connections.run(host, LIST_SCRIPT, [root, id], 'look at the sandbox folder');
    return parseListing(output).find((entry) => entry.id === id);
  }

  private async mustFind(host: SshHost, id: string): Promise<ListedDirectory> {
    const listed = await this.find(host, id);
    if (!listed) throw new SandboxError('not-found', `The folder of sandbox ${id} is gone from host ${host.name}; it was removed outside Agent Sandboxes.`);
    return listed;
  }

  async inspect(host: SshHost, id: string): Promise<ProviderSandbox | undefined> {
    const listed = await this.find(host, id);
    return listed && this.fromDirectory(host, await this.connections.hostFacts(host), listed);
  }

  async exec(host: SshHost, id: string, request: ExecRequest): Promise<ExecResult> {
    const sandbox = await this.inspect(host, id);
    const run = sandbox?.ssh?.run;
    if (!sandbox || !run) throw new SandboxError('wrong-state', `The sandbox ${id} on host ${host.name} is not running; start it first.`);
    return sshExec(this.connections.session(host), request, { loginUser: host.user, cwd: run.cwd, env: run.env, prefix: run.prefix });
  }

  private fromDirectory(host: SshHost, facts: HostFacts, listed: ListedDirectory): ProviderSandbox {
    const { metadata } = listed;
    const paths = directoryPaths(facts.home, listed.id);
    const running = listed.state === 'running';
    return {
      id: listed.id,
      name: metadata.name,
      agentId: metadata.agentId,
      profile: metadata.profile,
      user: host.user,
      workdir: paths.workdir,
      createdAt: metadata.createdAt,
      providerRef: directoryRef(host.name, listed.id),
      state: listed.state,
      startedAt: running ? listed.since : undefined,
      stoppedAt: running ? undefined : listed.since,
      ports: {},
      ssh: running ? { ...hostEndpoint(host), run: runContext(paths, listed.id, metadata.limits) } : undefined,
      placement: { host: host.name, kind: 'directory' },
      limits: metadata.limits.description,
    };
  }
}
