import type { ExecRequest, ExecResult, ProviderKind, SandboxRecord } from '../../../src/core/model';
import type { CreateSpec, LogLine, Provider, ProviderSandbox } from '../../../src/core/providers/provider';

/** A provider without an engine: its machines are what the test puts in `machines`. */
export class FakeProvider implements Provider {
  readonly machines = new Map<string, ProviderSandbox>();
  /** Why a machine's host did not answer, by provider ref (`unreachable`). */
  readonly unanswered = new Map<string, string>();
  readonly listedOwners: string[] = [];

  constructor(readonly kind: ProviderKind = 'docker') {}

  async ping(): Promise<void> {}

  async create(spec: CreateSpec): Promise<ProviderSandbox> {
    const machine = machineOf({ id: spec.id, name: spec.name, createdAt: spec.createdAt }, 'running');
    this.machines.set(machine.providerRef, machine);
    return machine;
  }

  async start(ref: string): Promise<ProviderSandbox> {
    return this.setState(ref, 'running');
  }

  async stop(ref: string): Promise<ProviderSandbox> {
    return this.setState(ref, 'stopped');
  }

  async remove(ref: string): Promise<void> {
    this.machines.delete(ref);
  }

  async list(ownerId: string): Promise<ProviderSandbox[]> {
    this.listedOwners.push(ownerId);
    return [...this.machines.values()];
  }

  async inspect(ref: string): Promise<ProviderSandbox | undefined> {
    return this.machines.get(ref);
  }

  async exec(_ref: string, _request: ExecRequest): Promise<ExecResult> {
    throw new Error('The fake provider runs no commands.');
  }

  async *logs(): AsyncIterable<LogLine> {}

  unreachable(ref: string): string | undefined {
    return this.unanswered.get(ref);
  }

  private setState(ref: string, state: ProviderSandbox['state']): ProviderSandbox {
    const machine = this.machines.get(ref);
    if (!machine) throw new Error(`No machine ${ref}.`);
    const changed = { ...machine, state };
    this.machines.set(ref, changed);
    return changed;
  }
}

/** A machine as a provider reports it, for a sandbox of this id and name. */
export function machineOf(sandbox: Pick<SandboxRecord, 'id' | 'name' | 'createdAt'>, state: ProviderSandbox['state']): ProviderSandbox {
  return {
    id: sandbox.id,
    name: sandbox.name,
    agentId: 'default',
    profile: { image: 'sandbox:test', cpus: 1, memory: 512 * 1024 ** 2, pids: 256, sudo: false },
    user: 'agent',
    workdir: '/home/agent/workspace',
    createdAt: sandbox.createdAt,
    providerRef: `ref-${sandbox.id}`,
    state,
    ports: state === 'running' ? { '22': 40022 } : {},
  };
}

/** A record as the state dir keeps it. */
export function recordOf(id: string, state: SandboxRecord['state'], extra: Partial<SandboxRecord> = {}): SandboxRecord {
  const createdAt = extra.createdAt ?? '2024-01-01T00:00:00.000Z';
  const machine = machineOf({ id, name: `box-${id}`, createdAt }, state === 'running' ? 'running' : 'stopped');
  return {
    ...machine,
    provider: 'docker',
    state,
    updatedAt: createdAt,
    ...extra,
  };
}
