import * as http from 'node:http';
import { Duplex } from 'node:stream';
import type { ClientChannel } from 'ssh2';
import Dockerode from 'dockerode';
import type { SshSession } from './session';

/**
 * A Docker client for a host's engine: each API connection is a channel of the host's SSH
 * session (pinned key, the host's identity) running `docker system dial-stdio` there, as
 * `docker -H ssh://` does. Not docker-modem's own ssh protocol: that opens a new SSH connection
 * per request and builds request URLs Node is deprecating (apocas/docker-modem#184).
 */
export function dockerOverSsh(host: { host: string; port: number }, session: SshSession): Dockerode {
  // Kept alive between requests: each new channel costs a login shell's start on the host.
  // Few sockets, so idle ones never take the session's channel slots from other work.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 4, maxFreeSockets: 2 });
  agent.createConnection = (_options, callback) => {
    session.exec('docker system dial-stdio').then(
      ({ channel, release }) => {
        channel.once('close', release);
        channel.stderr.resume(); // the CLI's own complaints; the HTTP answer says what went wrong
        // The engine ended this connection (dial-stdio exited): a pooled idle socket leaves the
        // pool at once, since ssh2 silently drops what is written to a closed channel and the
        // agent's next request on it would wait for ever.
        channel.once('exit', () => {
          if (Object.values(agent.freeSockets).some((sockets) => sockets?.includes(channel as never))) channel.destroy();
        });
        callback?.(null, asSocket(channel));
      },
      (error: Error) => callback?.(error, undefined as never),
    );
    return undefined;
  };
  // host and port only name the engine in messages; every byte goes through the agent.
  return new Dockerode({ protocol: 'http', host: host.host, port: host.port, agent } as Dockerode.DockerOptions);
}

/**
 * The channel as the socket an HTTP agent expects: its socket methods, as no-ops, and a real
 * destroy. ssh2's own destroy() only ends and closes the channel: the stream is not marked
 * destroyed and reports 'close' only once its output has been read to the end, which nobody
 * does for a socket the agent throws away, so the agent would count it in use for ever (and
 * queue every later request behind it) and the session would keep its slot.
 */
function asSocket(channel: ClientChannel): Duplex {
  const socket = channel as unknown as Duplex & Record<string, unknown>;
  for (const method of ['setTimeout', 'setKeepAlive', 'setNoDelay', 'ref', 'unref']) {
    if (typeof socket[method] !== 'function') socket[method] = () => socket;
  }
  let closed = false;
  const emit = socket.emit.bind(socket);
  socket.emit = (event: string | symbol, ...args: unknown[]) => {
    if (event === 'close') {
      if (closed) return false; // once: ssh2 may report it again when the server's close arrives
      closed = true;
      // Closed from the other end (the connection dropped) it would still look writable, and the
      // agent would pool it and send the next request into nothing: it is marked destroyed first.
      if (!socket.destroyed) Duplex.prototype.destroy.call(socket);
    }
    return emit(event, ...args);
  };
  const closeChannel = channel.destroy.bind(channel);
  socket.destroy = (error?: Error) => {
    if (socket.destroyed) return socket;
    closeChannel();
    // Without the error: the HTTP client has already taken it, and a second report would have no listener.
    Duplex.prototype.destroy.call(socket);
    process.nextTick(() => socket.emit('close', error !== undefined));
    return socket;
  };
  return socket;
}
