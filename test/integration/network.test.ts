import * as assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { captureDesktop } from '../../src/core/desktop';
import { ensureSandboxImage, sandboxImageTag } from '../../src/core/images';
import type { SandboxRecord } from '../../src/core/model';
import { OPEN_NETWORK_WARNING } from '../../src/core/network/policy';
import { SANDBOX_NETWORK } from '../../src/core/providers/docker';
import { TestEnvironment, docker, runProgram, tempDir, uniqueName, waitFor, type CliResult } from './helpers';
import { CONNECT_SCRIPT, ListenerNamespace, helloServer, hostAddresses, linkLocalOf, parseConnects } from './networkFixtures';

function parseJson<T>(result: CliResult): T {
  assert.equal(result.code, 0, `exit ${result.code}: ${result.stderr}`);
  return JSON.parse(result.stdout) as T;
}

describe('network policies', function () {
  const env = new TestEnvironment();
  const controller = env.controller;
  const octet = 10 + Math.floor(Math.random() * 240);
  // Listeners in a namespace of our own: a TEST-NET-2 address the allowlist admits and one it
  // does not, the cloud metadata address, and (the link itself) a private-range address.
  const allowedAddress = `198.51.100.${octet}`;
  const deniedAddress = `198.51.100.${octet + 1}`;
  const metadata = '169.254.169.254';
  const namespace = new ListenerNamespace(`10.231.${octet}`, [allowedAddress, deniedAddress, metadata], 7070);
  const privateAddress = namespace.linkAddress;
  const servers: Array<Awaited<ReturnType<typeof helloServer>>> = [];
  let any4: Awaited<ReturnType<typeof helloServer>>;
  let any6: Awaited<ReturnType<typeof helloServer>>;
  let loopback: Awaited<ReturnType<typeof helloServer>>;
  let filtered: SandboxRecord; // default policy, sudo
  let open: SandboxRecord;
  let openStart: CliResult;
  let allowlisted: SandboxRecord; // an allowlist, with a desktop
  let offline: SandboxRecord; // --network none

  before(async function () {
    await ensureSandboxImage(docker, { desktop: true });
    await namespace.open();
    any4 = await helloServer('0.0.0.0');
    any6 = await helloServer('::', { ipv6Only: true });
    loopback = await helloServer('127.0.0.1');
    servers.push(any4, any6, loopback);
    const made = await Promise.all([
      controller.create({ name: uniqueName('net-default') }),
      env.cli(['start', '--name', uniqueName('net-open'), '--network', 'open', '--json']),
      env.cli([
        'start',
        '--name',
        uniqueName('net-allow'),
        '--desktop',
        '--json',
        '--network',
        'allow:deb.debian.org',
        '--allow-domain',
        'allowed.test',
        '--allow-domain',
        '*.private.test',
        '--add-host',
        `allowed.test:${allowedAddress}`,
        '--add-host',
        `denied.test:${deniedAddress}`,
        '--add-host',
        `db.private.test:${privateAddress}`,
      ]),
      env.cli(['start', '--name', uniqueName('net-none'), '--network', 'none', '--json']),
    ]);
    filtered = made[0];
    openStart = made[1];
    open = parseJson<SandboxRecord>(openStart);
    allowlisted = parseJson<SandboxRecord>(made[2]);
    offline = parseJson<SandboxRecord>(made[3]);
  });
  after(async () => {
    for (const server of servers) server.close();
    await env.dispose();
    await namespace.close();
  });

  /** Connects from inside as root with no proxy settings; "host port" -> "ok" or the error. */
  async function connectAsRoot(record: SandboxRecord, targets: Array<[string, number]>): Promise<Record<string, string>> {
    const result = await controller.exec(record.id, {
      command: ['sudo', 'env', '-u', 'HTTP_PROXY', '-u', 'HTTPS_PROXY', 'python3', '-c', CONNECT_SCRIPT, JSON.stringify(targets)],
    });
    assert.equal(result.exitCode, 0, result.stderr);
    return parseConnects(result.stdout);
  }

  async function debianMirror(record: SandboxRecord): Promise<string> {
    const result = await controller.exec(record.id, {
      command: 'sudo env -u HTTP_PROXY -u HTTPS_PROXY curl -sI -m 20 http://deb.debian.org/debian/ | head -1',
    });
    return result.stdout.trim();
  }

  async function gatewayOf(record: SandboxRecord): Promise<string> {
    const details = await docker.getContainer(record.providerRef!).inspect();
    return details.NetworkSettings.Networks[SANDBOX_NETWORK]!.Gateway;
  }

  /** Everything of this machine and its neighbours that a filtered sandbox must not reach. */
  async function forbiddenTargets(): Promise<Array<[string, number]>> {
    const gateway = await gatewayOf(filtered);
    const targets: Array<[string, number]> = [
      [gateway, any4.port],
      ['127.0.0.1', loopback.port],
      [metadata, namespace.port],
      [privateAddress, namespace.port],
    ];
    const gatewayLinkLocal = linkLocalOf(gateway);
    if (gatewayLinkLocal) targets.push([`${gatewayLinkLocal}%eth0`, any6.port]);
    for (const address of hostAddresses()) {
      if (address.includes(':')) {
        if (!address.startsWith('fe80:')) targets.push([address, any6.port]);
      } else if (address !== gateway) targets.push([address, any4.port]);
    }
    return targets;
  }

  it('default: root reaches the internet, and not this machine, another sandbox, private or link-local addresses', async function () {
    // Another sandbox serving on its own address.
    const server =
      'import socket\ns = socket.socket(); s.bind(("0.0.0.0", 7071)); s.listen(8)\nwhile True:\n    c, _ = s.accept(); c.sendall(b"hello\\n"); c.close()\n';
    await controller.exec(open.id, { command: 'cat > /tmp/hello.py && (setsid python3 /tmp/hello.py >/dev/null 2>&1 &)', stdin: server });
    const openAddress = (await docker.getContainer(open.providerRef!).inspect()).NetworkSettings.Networks[SANDBOX_NETWORK]!.IPAddress;
    await waitFor(
      async () =>
        parseConnects((await controller.exec(open.id, { command: ['python3', '-c', CONNECT_SCRIPT, JSON.stringify([['127.0.0.1', 7071]])] })).stdout)[
          '127.0.0.1 7071'
        ] === 'ok' || undefined,
      10_000,
      'the other sandbox to listen',
    );

    const targets: Array<[string, number]> = [...(await forbiddenTargets()), [openAddress, 7071]];
    const results = await connectAsRoot(filtered, targets);
    assert.equal(Object.keys(results).length, targets.length, JSON.stringify(results));
    for (const [target, outcome] of Object.entries(results)) assert.notEqual(outcome, 'ok', `${target} answered a default sandbox: ${JSON.stringify(results)}`);
    assert.match(await debianMirror(filtered), /^HTTP\/1\.[01] 200/, "Debian's mirror");
    // The listeners are real: an open sandbox reaches them, as every sandbox did before policies.
    const reached = await connectAsRoot(open, [
      [await gatewayOf(open), any4.port],
      [privateAddress, namespace.port],
      [deniedAddress, namespace.port],
    ]);
    assert.deepEqual(Object.values(reached), ['ok', 'ok', 'ok'], JSON.stringify(reached));

    const status = await env.cli(['status', filtered.name]);
    assert.match(status.stdout, /^network +default \(the internet; not this machine/m);
    const details = await docker.getContainer(filtered.providerRef!).inspect();
    assert.deepEqual(details.HostConfig.CapAdd ?? [], [], 'no capability is added to the sandbox');
    assert.deepEqual([...(details.HostConfig.CapDrop ?? [])].sort(), ['MKNOD', 'NET_RAW']);
    const flush = await controller.exec(filtered.id, { command: 'sudo nft flush ruleset' });
    assert.notEqual(flush.exitCode, 0, 'root inside cannot change the rules');
  });

  it('open: says so, and behaves as before', async function () {
    assert.ok(openStart.stderr.includes(OPEN_NETWORK_WARNING), openStart.stderr);
    assert.match((await env.cli(['status', open.name])).stdout, /^network +open \(not filtered/m);
  });

  it('an allowlist: allowed names connect, other names, private and link-local addresses do not; SSH, forwards and the desktop work', async function () {
    const results = await connectAsRoot(allowlisted, [
      ['allowed.test', namespace.port],
      ['denied.test', namespace.port],
      [deniedAddress, namespace.port],
      ['db.private.test', namespace.port],
      [metadata, namespace.port],
      [await gatewayOf(allowlisted), any4.port],
    ]);
    assert.deepEqual(
      Object.entries(results).map(([target, outcome]) => `${target} ${outcome === 'ok' ? 'ok' : 'refused'}`),
      [
        `allowed.test ${namespace.port} ok`,
        `denied.test ${namespace.port} refused`,
        `${deniedAddress} ${namespace.port} refused`,
        `db.private.test ${namespace.port} refused`,
        `${metadata} ${namespace.port} refused`,
        `${await gatewayOf(allowlisted)} ${any4.port} refused`,
      ],
    );
    assert.match(await debianMirror(allowlisted), /^HTTP\/1\.[01] 200/, 'an allowed domain, looked up through the resolver');
    assert.match((await env.cli(['status', allowlisted.name])).stdout, /^network +allow deb\.debian\.org, allowed\.test, \*\.private\.test \(nothing else\)/m);

    // Our own ways in keep working: OpenSSH with our config, a forwarded port, the desktop.
    const { configFile, alias } = await controller.sshTarget(allowlisted.id);
    const login = await runProgram('ssh', ['-F', configFile, '-o', 'BatchMode=yes', alias, 'id -un']);
    assert.equal(login.stdout, 'agent\n', login.stderr);
    await controller.exec(allowlisted.id, {
      command:
        'mkdir -p /tmp/www && echo inside > /tmp/www/index.html && (setsid python3 -m http.server 8765 --bind 127.0.0.1 --directory /tmp/www >/dev/null 2>&1 &)',
    });
    await waitFor(
      async () => (await controller.exec(allowlisted.id, { command: 'curl -sf http://127.0.0.1:8765/' })).exitCode === 0 || undefined,
      10_000,
      'the web server',
    );
    const forward = await controller.forward(allowlisted.id, 8765);
    try {
      assert.equal(await (await fetch(forward.url)).text(), 'inside\n');
    } finally {
      forward.close();
    }
    const shot = path.join(tempDir('net-shot-'), 'desktop.png');
    await waitFor(
      async () => ((await captureDesktop(controller, allowlisted.id).catch(() => undefined))?.width === 1280 ? true : undefined),
      60_000,
      'the desktop',
    );
    const saved = await env.cli(['screenshot', allowlisted.name, shot]);
    assert.equal(saved.code, 0, saved.stderr);
    assert.deepEqual([...(await fs.readFile(shot)).subarray(1, 4)], [...Buffer.from('PNG')]);
  });

  it('none: only loopback; exec works, and SSH and forwards say they are unavailable', async function () {
    const interfaces = await controller.exec(offline.id, { command: 'ls /sys/class/net' });
    assert.equal(interfaces.stdout, 'lo\n');
    assert.deepEqual(offline.ports, {});
    assert.match((await env.cli(['status', offline.name])).stdout, /^network +none \(no network/m);
    const unavailable =
      /has no network \(--network none\), so SSH, forwarded ports, its desktop and Attach VS Code are unavailable for it; run commands with `sandbox exec/;
    for (const args of [
      ['ssh', offline.name, '--', 'true'],
      ['forward', offline.name, '8000'],
    ]) {
      const result = await env.cli(args);
      assert.equal(result.code, 5, `${args[0]}: ${result.stderr}`);
      assert.match(result.stderr, unavailable);
    }
    await assert.rejects(controller.sshTarget(offline.id), unavailable);
  });

  it('puts the rules back at every start; a start outside Agent Sandboxes holds the sandbox, then stops it', async function () {
    assert.equal((await env.cli(['stop', filtered.name])).code, 0);
    assert.equal((await env.cli(['start', filtered.name])).code, 0);
    const gateway = await gatewayOf(filtered);
    assert.notEqual((await connectAsRoot(filtered, [[gateway, any4.port]]))[`${gateway} ${any4.port}`], 'ok');
    assert.match(await debianMirror(filtered), /^HTTP\/1\.[01] 200/);

    // A plain `docker restart`: no marker, so the init holds (no sshd) until `sandbox start`.
    await docker.getContainer(filtered.providerRef!).restart({ t: 1 });
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const processes = (await docker.getContainer(filtered.providerRef!).top()) as { Processes: string[][] };
    assert.ok(!processes.Processes.some((row) => row.join(' ').includes('sshd')), JSON.stringify(processes.Processes));
    assert.equal((await env.cli(['start', filtered.name])).code, 0);
    assert.equal((await controller.exec(filtered.id, { command: 'id -un' })).stdout, 'agent\n');
    assert.notEqual((await connectAsRoot(filtered, [[gateway, any4.port]]))[`${gateway} ${any4.port}`], 'ok');
    const { configFile, alias } = await controller.sshTarget(filtered.id);
    assert.equal((await runProgram('ssh', ['-F', configFile, '-o', 'BatchMode=yes', alias, 'echo ssh-ok'])).stdout, 'ssh-ok\n');

    // Without the marker for good, the init gives up and the container stops (fail closed).
    const held = await docker.createContainer({
      Image: sandboxImageTag(),
      Env: ['SANDBOX_NETWORK_WAIT=1'],
      Labels: { 'dev.agent-sandboxes.owner': await env.ownerId() },
      HostConfig: { NetworkMode: 'none', Tmpfs: { '/run/sandbox-network': 'mode=0700' } },
    });
    await held.start();
    const { StatusCode } = (await held.wait()) as { StatusCode: number };
    const log = ((await held.logs({ stdout: true, stderr: true })) as Buffer).toString();
    await held.remove({ force: true });
    assert.equal(StatusCode, 1);
    assert.match(log, /the network policy was not put in place within 1 s .*; stopping\. Start it with `sandbox start`\./);
  });

  it("root's own init forges the marker and connects before the rules: sandbox start puts them in, and that connection ends", async function () {
    // A server on this machine that keeps a connection open and echoes what it gets.
    const sockets = new Set<net.Socket>();
    const echo = net.createServer((socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => undefined);
      socket.write('hello\n');
      socket.on('data', (data) => socket.write(`echo:${data}`));
    });
    await new Promise<void>((resolve) => echo.listen({ host: '0.0.0.0', port: 0 }, resolve));
    const port = (echo.address() as net.AddressInfo).port;
    try {
      const gateway = await gatewayOf(filtered);
      // Connects at once, waits until new connections are refused (the rules are in), then uses the early one.
      const early = `import socket, time
c = socket.create_connection(("${gateway}", ${port}), 3); c.recv(6)
deadline = time.time() + 60
while time.time() < deadline:
    try:
        socket.create_connection(("${gateway}", ${port}), 1).close(); time.sleep(0.2)
    except OSError:
        break
try:
    c.sendall(b"late\\n"); out = "reached" if c.recv(100).startswith(b"echo:") else "closed"
except OSError as e:
    out = type(e).__name__
open("/tmp/early-result", "w").write(out)
`;
      const forged = `#!/bin/sh\n: > /run/sandbox-network/ready\npython3 -c '${early}' >/dev/null 2>&1 &\n`;
      const planted = await controller.exec(filtered.id, {
        command: 'sudo sh -c "cat > /usr/local/sbin/sandbox-wait-network && rm -f /tmp/early-result"',
        stdin: forged,
      });
      assert.equal(planted.exitCode, 0, planted.stderr);

      await docker.getContainer(filtered.providerRef!).restart({ t: 1 });
      assert.equal((await env.cli(['start', filtered.name])).code, 0);
      assert.notEqual((await connectAsRoot(filtered, [[gateway, any4.port]]))[`${gateway} ${any4.port}`], 'ok', 'the rules are in despite the forged marker');
      const outcome = await waitFor(
        async () => (await controller.exec(filtered.id, { command: 'cat /tmp/early-result 2>/dev/null' })).stdout || undefined,
        70_000,
        'the early connection to be tried again',
      );
      assert.notEqual(outcome, 'reached', 'a connection made before the rules must not outlive them');
    } finally {
      for (const socket of sockets) socket.destroy();
      echo.close();
    }
  });
});
