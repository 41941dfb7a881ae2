import * as http from 'node:http';
import type { Duplex } from 'node:stream';
import Dockerode from 'dockerode';
import type { SshSession } from './session';

/**
 * A Docker client for a host's engine: each API connection is a channel of the host's SSH
 * session (pinned key, the host's identity) running `docker system dial-stdio` there, as
 * `docker -H ssh://` does. Not docker-modem's own ssh protocol: that opens a new SSH connection
 * per request and builds request URLs Node is deprecating (apocas/docker-modem#184).
 */
/**
 * How long an engine request waits for a channel of the host's session. A running `docker exec`
 * holds its channel until the engine answers a further request for its exit code; with every
 * channel held that way the requests would wait for one another, so one gives up instead.
 */
const ENGINE_SLOT_WAIT_MS = 15_000;

export function dockerOverSsh(host: { host: string; port: number }, session: SshSession): Dockerode {
  // Kept alive between requests: each new channel costs a login shell's start on the host.
  // Few sockets, so idle ones never take the session's channel slots from other work.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 4, maxFreeSockets: 2 });
  agent.createConnection = (_options, callback) => {
    session.exec('docker system dial-stdio', undefined, undefined, { slotWaitMs: ENGINE_SLOT_WAIT_MS }).then(
      ({ channel, release }) => {
        channel.once('close', release);
        channel.stderr.resume(); // the CLI's own complaints; the HTTP answer says what went wrong
        callback?.(null, asSocket(channel));
      },
      (error: Error) => callback?.(error, undefined as never),
    );
    return undefined;
  };
  // host and port only name the engine in messages; every byte goes through the agent.
  return new Dockerode({ protocol: 'http', host: host.host, port: host.port, agent } as Dockerode.DockerOptions);
}

/** The socket methods an HTTP agent calls on pooled sockets, as no-ops on an SSH channel. */
function asSocket(channel: Duplex): Duplex {
  const socket = channel as Duplex & Record<string, unknown>;
  for (const method of ['setTimeout', 'setKeepAlive', 'setNoDelay', 'ref', 'unref']) {
    if (typeof socket[method] !== 'function') socket[method] = () => socket;
  }
  return socket;
}
