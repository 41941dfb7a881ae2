import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import { Client, type ClientChannel, type ConnectConfig, type PseudoTtyOptions } from 'ssh2';
import { SandboxError, describeError } from '../errors';
import { createLimiter, type Limiter } from '../util/limiter';
import { fingerprint, publicKeyBlob } from './keys';

/** Where one SSH connection goes and what it trusts. */
export interface SshTarget {
  /** For messages: the sandbox's or host's name. */
  label: string;
  host: string;
  port: number;
  user: string;
  /** The pinned host key (`ssh-ed25519 AAAA...`): the only key this connection accepts. */
  hostKey: string;
  /** A private key (OpenSSH format); without one the user's ssh-agent is asked. */
  privateKey?: string | Buffer;
  /** An ssh-agent socket, when no private key is given. */
  agent?: string;
  /**
   * Opens the byte stream to the server through another connection (a jump host); `host` and
   * `port` are then as that machine sees them. Called once per connection attempt.
   */
  tunnel?: () => Promise<Duplex>;
}

/** The target for an endpoint: only where and what to trust, with the credentials given. */
export function targetFor(
  label: string,
  endpoint: { host: string; port: number; user: string; hostKey: string },
  credentials: { privateKey?: string | Buffer; agent?: string },
): SshTarget {
  return {
    label,
    host: endpoint.host,
    port: endpoint.port,
    user: endpoint.user,
    hostKey: endpoint.hostKey,
    privateKey: credentials.privateKey,
    agent: credentials.agent,
  };
}

export interface SshSessionOptions {
  /** Seconds between keepalives and how many may go unanswered before the connection counts as dropped. */
  keepaliveIntervalMs?: number;
  keepaliveCountMax?: number;
  /** Session channels (exec) open at once; an sshd refuses more than its MaxSessions (10 by default). */
  maxChannels?: number;
  /** Connection attempts before giving up, with doubling waits between them. */
  connectAttempts?: number;
  readyTimeoutMs?: number;
}

const DEFAULTS: Required<SshSessionOptions> = {
  keepaliveIntervalMs: 5000,
  keepaliveCountMax: 3,
  maxChannels: 8,
  connectAttempts: 6,
  readyTimeoutMs: 10_000,
};
const FIRST_RETRY_MS = 100;

/**
 * One persistent SSH connection to one machine, shared by every exec, transfer and forwarded
 * port for it. It connects on first use and again on the next use after a drop, retrying with
 * backoff (a sandbox restarting, a network blip). The host key is checked against the pinned
 * one on every connect: a mismatch is a hard failure, never a reason to re-trust.
 */
export class SshSession extends EventEmitter {
  private client?: Client;
  private connecting?: Promise<Client>;
  private closed = false;
  private lastTarget?: SshTarget;
  private readonly options: Required<SshSessionOptions>;
  private readonly limit: Limiter;
  private inUse = 0;
  /** The slots of each connection's open channels: all are freed when it ends. */
  private readonly releasesOf = new WeakMap<Client, Set<() => void>>();
  /** Work to do once connected again after a drop (killing what a dropped exec left running). */
  private readonly afterReconnect: Array<(client: Client) => Promise<void>> = [];

  constructor(
    private readonly resolveTarget: () => Promise<SshTarget>,
    options: SshSessionOptions = {},
  ) {
    super();
    this.options = { ...DEFAULTS, ...options };
    this.limit = createLimiter(this.options.maxChannels);
  }

  /** Session channels open now (each holds one of the server's MaxSessions). */
  get channelsInUse(): number {
    return this.inUse;
  }

  get connected(): boolean {
    return this.client !== undefined;
  }

  /** The live connection, connecting (with retries) when there is none. */
  connection(signal?: AbortSignal): Promise<Client> {
    if (this.closed) return Promise.reject(new SandboxError('wrong-state', 'This SSH session was closed.'));
    if (this.client) {
      this.runDeferred(this.client);
      return Promise.resolve(this.client);
    }
    this.connecting ??= this.connectWithRetries(signal).finally(() => (this.connecting = undefined));
    return this.connecting;
  }

  /**
   * Opens a session channel running `command` (as the login shell's `-c` argument). `attach`
   * runs synchronously as the channel opens, before any of its events can be missed.
   * `pty`: the command gets a terminal of that size (an interactive shell).
   */
  exec(
    command: string,
    signal?: AbortSignal,
    attach?: (channel: ClientChannel) => void,
    options: { unlimited?: boolean; pty?: PseudoTtyOptions } = {},
  ): Promise<{ channel: ClientChannel; release: () => void }> {
    const limit: Limiter = options.unlimited ? (task) => task() : this.limit;
    return new Promise((resolve, reject) => {
      // The limiter holds a slot until the caller releases it (channel closed).
      limit(async () => {
        let release!: () => void;
        const released = new Promise<void>((r) => (release = r));
        if (!options.unlimited) {
          this.inUse++;
          void released.then(() => this.inUse--);
        }
        try {
          const client = await this.connection(signal);
          const channel = await openRefusedAgain(
            () =>
              new Promise<ClientChannel>((ok, fail) =>
                client.exec(command, options.pty ? { pty: options.pty } : {}, (error, stream) => {
                  if (error) return fail(error);
                  attach?.(stream);
                  ok(stream);
                }),
              ),
          );
          // ssh2 reports a channel closed only once its output was read to the end; a connection
          // that ends takes its channels with it, read or not, so their slots are freed then too.
          const releases = this.releasesOf.get(client);
          const free = () => {
            releases?.delete(free);
            release();
          };
          releases?.add(free);
          channel.once('close', free);
          resolve({ channel, release });
        } catch (error) {
          reject(this.translate(error));
          return;
        }
        await released;
      }).catch(reject);
    });
  }

  /** A `direct-tcpip` channel to host:port as the remote machine sees it. */
  async forwardOut(host: string, port: number, signal?: AbortSignal): Promise<ClientChannel> {
    const client = await this.connection(signal);
    try {
      return await new Promise<ClientChannel>((ok, fail) =>
        client.forwardOut('127.0.0.1', 0, host, port, (error, stream) => (error ? fail(error) : ok(stream))),
      );
    } catch (error) {
      throw new SandboxError(
        'provider-error',
        `The sandbox refused a connection to ${host}:${port} (${describeError(error)}); check that something listens there.`,
      );
    }
  }

  /**
   * Runs `task` at the next use of the session. Not at once: the caller has usually just seen
   * a channel die, and the connection it sees may be the dead one, not yet noticed.
   */
  whenConnected(task: (client: Client) => Promise<void>): void {
    this.afterReconnect.push(task);
  }

  private runDeferred(client: Client): void {
    for (const task of this.afterReconnect.splice(0)) void task(client).catch(() => undefined);
  }

  close(): void {
    this.closed = true;
    this.client?.end();
    this.client = undefined;
  }

  private async connectWithRetries(signal?: AbortSignal): Promise<Client> {
    let lastError: unknown;
    for (let attempt = 0; attempt < this.options.connectAttempts; attempt++) {
      if (signal?.aborted) throw new SandboxError('cancelled', 'Connecting over SSH was cancelled.');
      if (attempt > 0) await delay(FIRST_RETRY_MS * 2 ** (attempt - 1), signal);
      try {
        // Asked again on every attempt: a restarting sandbox may come back on another port,
        // and may look stopped for a moment on the way.
        const target = await this.resolveTarget();
        this.lastTarget = target;
        const client = await this.connectOnce(target);
        this.adopt(client);
        return client;
      } catch (error) {
        lastError = error;
        // A wrong host key or a refused login will not change by trying again.
        if (isPermanent(error) || this.closed) throw error;
      }
    }
    throw lastError instanceof SandboxError ? lastError : this.translate(lastError);
  }

  private async connectOnce(target: SshTarget): Promise<Client> {
    const sock = target.tunnel ? await target.tunnel() : undefined;
    return new Promise((resolve, reject) => {
      const client = new Client();
      let presentedKey: Buffer | undefined;
      const pinned = publicKeyBlob(target.hostKey);
      const config: ConnectConfig = {
        host: target.host,
        port: target.port,
        sock,
        username: target.user,
        privateKey: target.privateKey,
        agent: target.privateKey ? undefined : target.agent,
        tryKeyboard: false,
        readyTimeout: this.options.readyTimeoutMs,
        keepaliveInterval: this.options.keepaliveIntervalMs,
        keepaliveCountMax: this.options.keepaliveCountMax,
        // Ask for the key type we pinned, so the server cannot offer another one instead.
        algorithms: {
          serverHostKey: hostKeyAlgorithms(target.hostKey),
          // AES-GCM runs in OpenSSL (with AES-NI); ssh2's chacha20 runs in JavaScript when its
          // optional native module is absent (as in our bundle), at a quarter of the speed.
          cipher: ['aes128-gcm@openssh.com', 'aes256-gcm@openssh.com', 'aes128-ctr', 'aes256-ctr', 'chacha20-poly1305@openssh.com'],
        },
        hostVerifier: (key: Buffer) => {
          presentedKey = key;
          return key.equals(pinned);
        },
      };
      const onError = (error: Error & { level?: string }) => {
        client.removeListener('ready', onReady);
        client.end();
        sock?.destroy();
        if (presentedKey && !presentedKey.equals(pinned)) {
          reject(
            new SandboxError(
              'host-key-mismatch',
              `${target.label} presented host key ${fingerprint(presentedKey)} instead of the pinned ${fingerprint(pinned)}, so nothing was sent; if you did not replace that machine, someone may be intercepting the connection (remove and recreate the sandbox, or re-add the host, to trust a new key).`,
            ),
          );
          return;
        }
        if (error.level === 'client-authentication') {
          reject(
            permanent(
              new SandboxError(
                'provider-error',
                `${target.label} refused our key for ${target.user}@${target.host}:${target.port}; check that the key is authorized there.`,
              ),
            ),
          );
          return;
        }
        reject(error);
      };
      const onReady = () => {
        client.removeListener('error', onError);
        resolve(client);
      };
      client.once('ready', onReady);
      client.once('error', onError);
      // Late errors of a connection given up on must not go unhandled.
      client.on('error', () => undefined);
      client.connect(config);
    });
  }

  private adopt(client: Client): void {
    if (this.closed) {
      // Closed while connecting: this connection has no one left to serve.
      client.end();
      throw new SandboxError('wrong-state', 'This SSH session was closed.');
    }
    // Small request/response messages: Nagle's delay would add tens of milliseconds to each exec.
    client.setNoDelay(true);
    this.client = client;
    const releases = new Set<() => void>();
    this.releasesOf.set(client, releases);
    client.once('close', () => [...releases].forEach((free) => free()));
    const dropped = () => {
      if (this.client !== client) return;
      this.client = undefined;
      this.emit('drop');
    };
    client.on('error', dropped);
    client.on('close', dropped);
    client.on('end', dropped);
    this.runDeferred(client);
    this.emit('connect');
  }

  private translate(error: unknown): Error {
    if (error instanceof SandboxError) return error;
    const where = this.lastTarget ? `${this.lastTarget.label} at ${this.lastTarget.host}:${this.lastTarget.port}` : 'the machine';
    return new SandboxError('connection-failed', `Could not reach ${where} over SSH (${describeError(error)}); check that it is running.`, { cause: error });
  }
}

type HostKeyAlgorithm = NonNullable<NonNullable<ConnectConfig['algorithms']>['serverHostKey']> extends (infer T)[] ? T : never;

function hostKeyAlgorithms(hostKey: string): HostKeyAlgorithm[] {
  const type = hostKey.split(' ')[0]!;
  if (type === 'ssh-rsa') return ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'] as HostKeyAlgorithm[];
  return [type as HostKeyAlgorithm];
}

/** Failures that trying again cannot fix. */
const permanentFailures = new WeakSet<object>();

function permanent(error: SandboxError): SandboxError {
  permanentFailures.add(error);
  return error;
}

function isPermanent(error: unknown): boolean {
  if (!(error instanceof SandboxError)) return false;
  return permanentFailures.has(error) || ['host-key-mismatch', 'cancelled', 'invalid-input', 'not-found'].includes(error.code);
}

function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });
}

/**
 * A session channel refused: OpenSSH's sshd answers its MaxSessions with reason 2 ("open failed",
 * logging "no more sessions"); others say 1 (prohibited) or 4 (resource shortage).
 */
const REFUSED_FOR_NOW = new Set([1, 2, 4]);
const REOPEN_DELAYS_MS = [50, 100, 200, 400, 800];

/**
 * Opens a channel, again after a short wait when the server refuses it for its session limit:
 * sshd frees a closed channel's slot a moment after telling us it closed, so a slot freed here
 * can still be counted there, more so on a loaded host.
 */
async function openRefusedAgain<T>(open: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await open();
    } catch (error) {
      const reason = (error as { reason?: unknown }).reason;
      if (typeof reason !== 'number' || !REFUSED_FOR_NOW.has(reason) || attempt >= REOPEN_DELAYS_MS.length) throw error;
      await new Promise((resolve) => setTimeout(resolve, REOPEN_DELAYS_MS[attempt]));
    }
  }
}
