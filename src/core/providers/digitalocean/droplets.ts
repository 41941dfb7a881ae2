/**
 * Steps on one droplet: waiting for it to boot, the first connection (with the key pinned from
 * the user data) that replaces its host key, and how a droplet reads as a sandbox.
 */
import { SandboxError, describeError, throwIfAborted } from '../../errors';
import type { Profile, SandboxRecord, SandboxState } from '../../model';
import { generateEd25519 } from '../../ssh/keys';
import { SshSession, type SshTarget } from '../../ssh/session';
import { sshExec } from '../../transport/sshExec';
import { pause } from '../../util/pause';
import type { ProviderSandbox } from '../provider';
import type { DigitalOceanClient, Droplet } from './api/client';
import { dropletRef, sandboxIdOf } from './tags';
import { REKEY_COMMAND } from './userData';

export interface BootTiming {
  /** How long a droplet may take from create to answering SSH. */
  bootTimeoutMs: number;
  /** The first wait between looks; it doubles up to `maxPollMs`. */
  pollMs: number;
  maxPollMs: number;
}

const NEVER = new AbortController().signal;

export const DEFAULT_BOOT_TIMING: BootTiming = { bootTimeoutMs: 10 * 60_000, pollMs: 1000, maxPollMs: 8000 };

export function publicIpv4(droplet: Droplet): string | undefined {
  return droplet.networks?.v4?.find((network) => network.type === 'public')?.ip_address;
}

/** Polls until the droplet is active with a public address, backing off between reads (each counts against the rate limit). */
export async function waitUntilActive(client: DigitalOceanClient, id: number, timing: BootTiming, signal?: AbortSignal): Promise<Droplet> {
  const deadline = Date.now() + timing.bootTimeoutMs;
  for (let wait = timing.pollMs; ; wait = Math.min(timing.maxPollMs, wait * 2)) {
    const droplet = await client.droplet(id, signal);
    if (droplet.status === 'active' && publicIpv4(droplet)) return droplet;
    if (Date.now() + wait > deadline) {
      throw new SandboxError(
        'provider-error',
        `Droplet ${droplet.name} is still ${droplet.status} after ${Math.round(timing.bootTimeoutMs / 1000)} s; try again or pick another region.`,
      );
    }
    await pause(wait, signal ?? NEVER);
    throwIfAborted(signal, 'Creating the sandbox');
  }
}

/** Connects with the pinned key until sshd answers (a droplet's sshd comes up after it reads as active). */
export async function connectWhenUp(target: SshTarget, timing: BootTiming, signal?: AbortSignal): Promise<SshSession> {
  const deadline = Date.now() + timing.bootTimeoutMs;
  for (;;) {
    throwIfAborted(signal, 'Creating the sandbox');
    const session = new SshSession(async () => target, { connectAttempts: 1, readyTimeoutMs: 15_000 });
    try {
      await session.connection(signal);
      return session;
    } catch (error) {
      session.close();
      // A key that does not match is never a reason to wait: someone else answers there.
      if (error instanceof SandboxError && error.code === 'host-key-mismatch') throw error;
      if (Date.now() + timing.pollMs > deadline) {
        throw new SandboxError('provider-error', `The sandbox ${target.label} did not answer SSH in time (${describeError(error)}); try again.`);
      }
      await pause(timing.pollMs, signal ?? NEVER);
    }
  }
}

/**
 * Over the first connection (authenticated both ways with the keys of the user data): waits for
 * cloud-init to finish, installs a host key made here, and returns it; the one in the user data
 * is dead from then on.
 */
export async function replaceHostKey(session: SshSession, name: string, user: string, signal?: AbortSignal): Promise<string> {
  const fresh = generateEd25519(`sandbox-${name}`);
  const result = await sshExec(
    session,
    { command: ['sudo', '-n', REKEY_COMMAND], stdin: fresh.privateKey, signal, timeoutMs: 15 * 60_000 },
    { loginUser: user, cwd: '/' },
  );
  const served = result.stdout.trim().split(/\s+/).slice(0, 2).join(' ');
  const expected = fresh.publicKey.split(/\s+/).slice(0, 2).join(' ');
  if (result.exitCode !== 0 || served !== expected) {
    const detail = result.stderr.trim().split('\n').pop()?.slice(0, 200);
    throw new SandboxError('provider-error', `Could not replace the host key of ${name} (exit ${result.exitCode}${detail ? `: ${detail}` : ''}); try again.`);
  }
  return fresh.publicKey;
}

const STATES: Record<string, SandboxState> = { new: 'creating', active: 'running', off: 'stopped', archive: 'stopped' };

/** A droplet as a sandbox: what the record of this state dir knows (its pinned key, profile), else what the droplet says. */
/** The sandbox a droplet was made for (its id tag), or a name for a droplet of ours made without one. */
export function sandboxIdOfDroplet(droplet: Droplet): string {
  return sandboxIdOf(droplet.tags) ?? `droplet-${droplet.id}`;
}

export type KnownSandbox = Pick<SandboxRecord, 'agentId' | 'profile' | 'user' | 'workdir' | 'createdAt' | 'ssh' | 'cloud'>;

export function dropletSandbox(droplet: Droplet, record: KnownSandbox | undefined, fallbackProfile: Profile): ProviderSandbox {
  const id = sandboxIdOfDroplet(droplet);
  const ipv4 = publicIpv4(droplet);
  const state = STATES[droplet.status] ?? 'error';
  const hostKey = record?.ssh?.hostKey ?? record?.cloud?.hostKey;
  return {
    id,
    name: droplet.name,
    agentId: record?.agentId ?? 'default',
    profile: record?.profile ?? fallbackProfile,
    user: record?.user ?? 'agent',
    workdir: record?.workdir ?? '/home/agent/workspace',
    createdAt: record?.createdAt ?? droplet.created_at,
    providerRef: dropletRef(droplet.id),
    state,
    // A droplet runs from its creation (a restored one is a new droplet): the tree's uptime.
    startedAt: state === 'running' ? droplet.created_at : undefined,
    problem: state === 'error' ? `Droplet ${droplet.name} is ${droplet.status} on DigitalOcean; remove it with \`sandbox rm ${droplet.name}\`.` : undefined,
    ports: {},
    ssh: ipv4 && hostKey && state === 'running' ? { host: ipv4, port: 22, user: record?.user ?? 'agent', hostKey } : undefined,
    cloud: {
      hostKey,
      region: droplet.region?.slug ?? record?.cloud?.region ?? '',
      size: droplet.size_slug ?? droplet.size?.slug ?? record?.cloud?.size ?? '',
      usdPerHour: droplet.size?.price_hourly ?? record?.cloud?.usdPerHour ?? 0,
      ttlMs: record?.cloud?.ttlMs,
    },
  };
}

/** What a droplet says of itself, for one without a record here. */
export function fallbackProfile(droplet: Droplet): Profile {
  return {
    image: droplet.image?.slug ?? String(droplet.image?.id ?? ''),
    cpus: droplet.vcpus,
    memory: droplet.memory * 1024 * 1024,
    disk: droplet.disk * 1024 ** 3,
    pids: 0,
    sudo: false,
  };
}
