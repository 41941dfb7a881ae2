import type Dockerode from 'dockerode';
import { LABELS } from '../../labels';
import type { Profile, SandboxState } from '../../model';
import type { ProviderSandbox } from '../provider';

export type ContainerSummary = Dockerode.ContainerInfo;
export type ContainerDetails = Dockerode.ContainerInspectInfo;

function stateOf(status: string): SandboxState {
  switch (status) {
    case 'running':
    case 'restarting':
      return 'running';
    case 'created':
    case 'exited':
      return 'stopped';
    default:
      return 'error'; // paused, dead, removing
  }
}

function problemOf(status: string, exitCode?: number, oomKilled?: boolean): string | undefined {
  if (oomKilled) return 'The sandbox ran out of memory and was stopped; start it again or give it more memory.';
  if (status === 'paused') return 'The container was paused outside Agent Sandboxes; resume it with `docker unpause`.';
  if (status === 'dead' || status === 'removing') return `The container is ${status}; remove the sandbox.`;
  if (status === 'exited' && exitCode !== undefined && exitCode !== 0 && exitCode !== 143 && exitCode !== 137) {
    return `The sandbox's init exited with code ${exitCode}; see \`sandbox logs\`.`;
  }
  return undefined;
}

/** The profile a container or snapshot label carries; a label that is not JSON gives none. */
export function parseProfile(text: string | undefined): Profile | undefined {
  if (!text) return undefined;
  try {
    return JSON.parse(text) as Profile;
  } catch {
    return undefined;
  }
}

function fromLabels(labels: Record<string, string>, ref: string): Omit<ProviderSandbox, 'state' | 'ports'> | undefined {
  const id = labels[LABELS.id];
  const profile = parseProfile(labels[LABELS.profile]);
  if (!id || !profile) return undefined; // not one of ours, or labels damaged
  return {
    id,
    name: labels[LABELS.name] ?? id,
    agentId: labels[LABELS.agent] ?? '',
    profile,
    user: labels[LABELS.user] ?? 'agent',
    workdir: labels[LABELS.workdir] ?? '/',
    createdAt: labels[LABELS.created] ?? new Date(0).toISOString(),
    providerRef: ref,
  };
}

export function fromSummary(summary: ContainerSummary): ProviderSandbox | undefined {
  const base = fromLabels(summary.Labels ?? {}, summary.Id);
  if (!base) return undefined;
  const ports: Record<string, number> = {};
  for (const port of summary.Ports ?? []) {
    if (port.PublicPort && port.IP === '127.0.0.1') ports[String(port.PrivatePort)] = port.PublicPort;
  }
  const state = stateOf(summary.State);
  return { ...base, state, problem: problemOf(summary.State), ports, ssh: sshEndpoint(summary.Labels ?? {}, base.user, state, ports) };
}

/** The sandbox's sshd through its port published on 127.0.0.1, with the key pinned in its labels. */
function sshEndpoint(labels: Record<string, string>, user: string, state: SandboxState, ports: Record<string, number>): ProviderSandbox['ssh'] {
  const hostKey = labels[LABELS.hostKey];
  const port = ports['22'];
  if (state !== 'running' || !port || !hostKey) return undefined;
  return { host: '127.0.0.1', port, user, hostKey };
}

export function fromDetails(details: ContainerDetails): ProviderSandbox | undefined {
  const base = fromLabels(details.Config.Labels ?? {}, details.Id);
  if (!base) return undefined;
  const ports: Record<string, number> = {};
  for (const [key, bindings] of Object.entries(details.NetworkSettings.Ports ?? {})) {
    const binding = bindings?.find((b) => b.HostIp === '127.0.0.1');
    if (binding) ports[key.split('/')[0]!] = Number(binding.HostPort);
  }
  const status = details.State.Status;
  const isTime = (t: string | undefined) => (t && !t.startsWith('0001-') ? t : undefined);
  const state = stateOf(status);
  return {
    ...base,
    state,
    ssh: sshEndpoint(details.Config.Labels ?? {}, base.user, state, ports),
    problem: problemOf(status, details.State.ExitCode, details.State.OOMKilled),
    startedAt: isTime(details.State.StartedAt),
    stoppedAt: status === 'running' ? undefined : isTime(details.State.FinishedAt),
    ports,
  };
}
