import * as path from 'node:path';
import { SandboxError, describeError } from '../errors';
import type { SandboxRecord } from '../model';
import { validateName } from '../profile';
import { dockerOverSsh } from '../ssh/dockerOverSsh';
import { SshSession, targetFor } from '../ssh/session';
import { sshExec } from '../transport/sshExec';
import { agentSocket, loadCredentials, readIdentityFile } from './credentials';
import { validateAddress, validatePort, validateUser, type HostRegistry, type SshHost } from './registry';
import { scanHostKey, type PresentedKey } from './scan';

/** What adding and removing hosts needs of the SSH-host provider: its registry, and letting go of a host. */
export interface HostKeeper {
  readonly hosts: HostRegistry;
  /** Closes what this process holds open to the host. */
  forget(name: string): void;
}

/** What removing a host needs of the sandboxes: the ones on it, and removing them. */
export interface HostSandboxes {
  readonly sshHosts: HostKeeper;
  list(): Promise<SandboxRecord[]>;
  delete(ref: string, signal?: AbortSignal): Promise<SandboxRecord>;
}

export interface AddHostRequest {
  name: string;
  host: string;
  port?: number;
  user: string;
  identityFile?: string;
  agent?: boolean;
  /**
   * Shown the key the host presented; resolves true to pin it. Called before anything but the
   * key exchange happened, so a refusal leaves the host knowing nothing of us and nothing saved.
   */
  confirm: (presented: PresentedKey & { address: string }) => Promise<boolean>;
  /** Reports each step, for a progress line. */
  onStep?: (message: string) => void;
}

/** What the host looks like to us, found at `host add` over the freshly pinned connection. */
const DETECT_SCRIPT = [
  'printf "system=%s\\n" "$(uname -s)"',
  'printf "home=%s\\n" "$HOME"',
  `if docker version --format '{{.Server.Version}}' >/dev/null 2>&1; then echo docker=yes; fi`,
].join('\n');

/**
 * `sandbox host add`: learns the host key without logging in, has it confirmed, logs in
 * accepting only that key, looks for Docker, and saves the host. Nothing is saved unless every
 * step succeeded; the key is never taken on trust.
 */
export async function addHost(provider: HostKeeper, request: AddHostRequest): Promise<SshHost> {
  validateName(request.name);
  validateAddress(request.host);
  validateUser(request.user);
  const port = request.port ?? 22;
  validatePort(port);
  if (Boolean(request.identityFile) === Boolean(request.agent)) {
    throw new SandboxError('invalid-input', 'Say how to log in to the host: --identity FILE (a private key) or --agent (your ssh-agent), one of them.');
  }
  const identityFile = request.identityFile ? path.resolve(request.identityFile) : undefined;
  if (identityFile) {
    if (/["\u0000-\u001f]/.test(identityFile))
      throw new SandboxError('invalid-input', 'The key file path has a double quote or a control character, which an SSH config cannot hold; move the key.');
    await readIdentityFile(identityFile);
  } else {
    agentSocket();
  }
  if (await provider.hosts.find(request.name)) {
    throw new SandboxError(
      'conflict',
      `A host named ${request.name} is already added; pick another name or remove it with \`sandbox host rm ${request.name}\`.`,
    );
  }

  const address = `${request.host}:${port}`;
  request.onStep?.(`Asking ${address} for its host key`);
  const presented = await scanHostKey(request.host, port);
  if (!(await request.confirm({ ...presented, address }))) {
    throw new SandboxError('cancelled', `The host key of ${address} was not confirmed, so nothing was saved.`);
  }

  const draft: SshHost = {
    name: request.name,
    host: request.host,
    port,
    user: request.user,
    ...(identityFile ? { identityFile } : { agent: true }),
    hostKey: presented.hostKey,
    fingerprint: presented.fingerprint,
    docker: false,
    home: '',
    addedAt: new Date().toISOString(),
  };
  request.onStep?.(`Logging in to ${address} as ${request.user}`);
  const session = new SshSession(async () => targetFor(`host ${request.name}`, draft, await loadCredentials(draft)), { connectAttempts: 2 });
  try {
    const result = await sshExec(session, { command: ['/bin/sh', '-c', DETECT_SCRIPT], timeoutMs: 30_000 }, { loginUser: draft.user, cwd: '/' });
    const facts = new Map(
      result.stdout
        .split('\n')
        .filter((line) => line.includes('='))
        .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
    );
    if (facts.get('system') !== 'Linux') {
      throw new SandboxError('invalid-input', `${address} runs ${facts.get('system') || 'an unknown system'}, and sandboxes need Linux; add a Linux host.`);
    }
    draft.home = facts.get('home') ?? '';
    if (!path.posix.isAbsolute(draft.home))
      throw new SandboxError(
        'provider-error',
        `${request.user} has no home folder on ${address} ("${draft.home}"); give the user one, then add the host again.`,
      );
    if (facts.get('docker') === 'yes') {
      request.onStep?.(`Reaching the Docker engine of ${address} over SSH`);
      draft.docker = await engineAnswers(draft, session);
    }
  } finally {
    session.close();
  }
  await provider.hosts.add(draft);
  return draft;
}

/** `docker version` answering is not enough: the client we use must reach the engine too. */
async function engineAnswers(host: SshHost, session: SshSession): Promise<boolean> {
  try {
    await dockerOverSsh(host, session).ping();
    return true;
  } catch {
    return false;
  }
}

/**
 * `sandbox host rm`: refuses while sandboxes live on the host, unless `force`, which removes
 * them first (stopping at the first that cannot be removed, with the host kept).
 */
export async function removeHost(
  sandboxes: HostSandboxes,
  name: string,
  options: { force?: boolean; signal?: AbortSignal } = {},
): Promise<{ host: SshHost; removed: SandboxRecord[] }> {
  const provider = sandboxes.sshHosts;
  const host = await provider.hosts.get(name);
  const onHost = (await sandboxes.list()).filter((record) => record.placement?.host === name || record.providerRef?.startsWith(`${name}/`));
  if (onHost.length > 0 && !options.force) {
    const names = onHost.map((record) => record.name).join(', ');
    throw new SandboxError(
      'conflict',
      `Host ${name} still has ${onHost.length === 1 ? 'the sandbox' : `${onHost.length} sandboxes:`} ${names}; remove ${onHost.length === 1 ? 'it' : 'them'} first, or pass --force to remove ${onHost.length === 1 ? 'it' : 'them'} with the host.`,
    );
  }
  const removed: SandboxRecord[] = [];
  for (const record of onHost) {
    try {
      removed.push(await sandboxes.delete(record.id, options.signal));
    } catch (error) {
      throw new SandboxError(
        'provider-error',
        `Could not remove the sandbox ${record.name} from host ${name} (${describeError(error)}), so the host is kept; fix that and run \`sandbox host rm ${name} --force\` again.`,
        { cause: error },
      );
    }
  }
  provider.forget(name);
  await provider.hosts.remove(name);
  return { host, removed };
}
