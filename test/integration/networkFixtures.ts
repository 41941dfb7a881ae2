/**
 * Listeners the network tests point sandboxes at, all on this machine: TCP servers of the test
 * process on the host's own addresses, and a network namespace (a veth pair from iproute2)
 * holding private-range, link-local and TEST-NET addresses that the host routes to.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as net from 'node:net';
import * as os from 'node:os';
import { runProgram, waitFor } from './helpers';

/** A TCP server that writes "hello\n" to every connection. */
export async function helloServer(host: string, options: { ipv6Only?: boolean } = {}): Promise<net.Server & { port: number }> {
  const server = net.createServer((socket) => socket.end('hello\n'));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port: 0, ipv6Only: options.ipv6Only }, resolve);
  });
  return Object.assign(server, { port: (server.address() as net.AddressInfo).port });
}

/** Every address of this machine's interfaces except loopback: what a sandbox must never reach. */
export function hostAddresses(): string[] {
  return Object.values(os.networkInterfaces())
    .flatMap((entries) => entries ?? [])
    .filter((entry) => !entry.internal)
    .map((entry) => entry.address);
}

/** The IPv6 link-local address of the host interface that holds `ipv4` (the bridge of a gateway). */
export function linkLocalOf(ipv4: string): string | undefined {
  for (const entries of Object.values(os.networkInterfaces())) {
    if (!entries?.some((entry) => entry.address === ipv4)) continue;
    return entries.find((entry) => entry.family === 'IPv6' && entry.address.startsWith('fe80:'))?.address;
  }
  return undefined;
}

/**
 * A network namespace on a veth pair, with a TCP "hello" server on every one of `addresses`
 * (port `port`), each routed to from the host. Removed, routes and all, by `close`.
 */
export class ListenerNamespace {
  readonly name = `nsbox${Math.random().toString(36).slice(2, 8)}`;
  private readonly hostSide = `vh${this.name.slice(5)}`;
  private readonly nsSide = `vn${this.name.slice(5)}`;
  private server?: ChildProcess;
  private routes: string[] = [];

  constructor(
    /** A /30 for the link: the host side takes .1, the namespace .2 (of linkPrefix). */
    readonly linkPrefix: string,
    readonly addresses: string[],
    readonly port: number,
  ) {}

  get linkAddress(): string {
    return `${this.linkPrefix}.2`;
  }

  async open(): Promise<void> {
    const run = async (...args: string[]) => {
      const result = await runProgram('ip', args);
      if (result.code !== 0) throw new Error(`ip ${args.join(' ')}: ${result.stderr}`);
    };
    await run('netns', 'add', this.name);
    await run('link', 'add', this.hostSide, 'type', 'veth', 'peer', 'name', this.nsSide);
    await run('link', 'set', this.nsSide, 'netns', this.name);
    await run('addr', 'add', `${this.linkPrefix}.1/30`, 'dev', this.hostSide);
    await run('link', 'set', this.hostSide, 'up');
    await run('-n', this.name, 'addr', 'add', `${this.linkAddress}/30`, 'dev', this.nsSide);
    for (const address of this.addresses) await run('-n', this.name, 'addr', 'add', `${address}/32`, 'dev', this.nsSide);
    await run('-n', this.name, 'link', 'set', this.nsSide, 'up');
    await run('-n', this.name, 'link', 'set', 'lo', 'up');
    await run('-n', this.name, 'route', 'add', 'default', 'via', `${this.linkPrefix}.1`);
    for (const address of this.addresses) {
      await run('route', 'add', `${address}/32`, 'via', this.linkAddress, 'dev', this.hostSide);
      this.routes.push(address);
    }
    const script = `import socket, threading
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("0.0.0.0", ${this.port})); s.listen(64)
while True:
    c, _ = s.accept(); c.sendall(b"hello\\n"); c.close()`;
    this.server = spawn('ip', ['netns', 'exec', this.name, 'python3', '-c', script], { stdio: 'ignore' });
    await waitFor(
      async () =>
        (
          await runProgram('ip', [
            'netns',
            'exec',
            this.name,
            'python3',
            '-c',
            `import socket; socket.create_connection(("${this.linkAddress}", ${this.port}), 1)`,
          ])
        ).code === 0 || undefined,
      10_000,
      'the listener in the network namespace',
    );
  }

  async close(): Promise<void> {
    if (this.server?.pid !== undefined && this.server.exitCode === null) {
      const exited = new Promise((resolve) => this.server!.once('exit', resolve));
      process.kill(this.server.pid, 'SIGTERM');
      await exited;
    }
    for (const address of this.routes) await runProgram('ip', ['route', 'del', `${address}/32`]);
    await runProgram('ip', ['link', 'del', this.hostSide]);
    await runProgram('ip', ['netns', 'del', this.name]);
  }
}

/**
 * Python run inside a sandbox: tries a TCP connection to each target (host, port) and prints one
 * line per target, "ok" when the server's greeting arrived, else the error. `host` may carry a
 * scope (fe80::1%eth0).
 */
export const CONNECT_SCRIPT = `import json, socket, sys
for host, port in json.loads(sys.argv[1]):
    try:
        with socket.create_connection((host, port), 3) as c:
            print(host, port, "ok" if c.recv(6) == b"hello\\n" else "no greeting")
    except Exception as e:
        print(host, port, type(e).__name__)
`;

/** Parses CONNECT_SCRIPT's output: "host port" -> "ok" or an error name. */
export function parseConnects(output: string): Record<string, string> {
  const results: Record<string, string> = {};
  for (const line of output.trim().split('\n')) {
    const [host, port, outcome] = line.split(' ');
    if (host && port) results[`${host} ${port}`] = outcome ?? '';
  }
  return results;
}
