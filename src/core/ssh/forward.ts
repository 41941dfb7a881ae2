import { EventEmitter } from 'node:events';
import * as net from 'node:net';
import { SandboxError, describeError } from '../errors';
import type { SshSession } from './session';

export interface PortForwardSpec {
  sandboxId: string;
  sandboxName: string;
  /** The port inside the sandbox (on its 127.0.0.1). */
  remotePort: number;
  /** A fixed local port; by default the system picks a free one. */
  localPort?: number;
}

/**
 * A local port on 127.0.0.1 whose connections travel as `direct-tcpip` channels of the
 * sandbox's SSH session to 127.0.0.1:<remotePort> inside it. Nothing is published on any
 * other address, and nothing is opened on the sandbox's side but the channel.
 */
export class PortForward extends EventEmitter {
  readonly sandboxId: string;
  readonly sandboxName: string;
  readonly remotePort: number;
  private readonly sockets = new Set<net.Socket>();
  private closed = false;

  private constructor(
    private readonly server: net.Server,
    private readonly session: SshSession,
    spec: PortForwardSpec,
    readonly localPort: number,
  ) {
    super();
    this.sandboxId = spec.sandboxId;
    this.sandboxName = spec.sandboxName;
    this.remotePort = spec.remotePort;
  }

  get url(): string {
    return `http://127.0.0.1:${this.localPort}/`;
  }

  get active(): boolean {
    return !this.closed;
  }

  static async open(session: SshSession, spec: PortForwardSpec): Promise<PortForward> {
    const server = net.createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', (error: NodeJS.ErrnoException) =>
        reject(
          error.code === 'EADDRINUSE'
            ? new SandboxError('conflict', `Local port ${spec.localPort} is already in use; pick another or leave it out to get a free one.`)
            : new SandboxError('provider-error', `Could not listen on 127.0.0.1:${spec.localPort ?? 0} (${describeError(error)}).`),
        ),
      );
      server.listen({ host: '127.0.0.1', port: spec.localPort ?? 0 }, () => resolve());
    });
    const forward = new PortForward(server, session, spec, (server.address() as net.AddressInfo).port);
    server.on('connection', (socket) => forward.carry(socket));
    return forward;
  }

  private carry(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    socket.pause();
    socket.on('error', () => socket.destroy());
    this.session.forwardOut('127.0.0.1', this.remotePort).then(
      (channel) => {
        if (socket.destroyed) {
          channel.close();
          return;
        }
        socket.pipe(channel).pipe(socket);
        channel.on('error', () => socket.destroy());
        channel.on('close', () => socket.destroy());
        socket.on('close', () => channel.close());
        socket.resume();
      },
      (error: unknown) => {
        this.emit('error-connection', error);
        socket.destroy();
      },
    );
  }

  /** Stops listening and cuts the connections it carries. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.server.close();
    for (const socket of this.sockets) socket.destroy();
    this.emit('close');
  }
}
