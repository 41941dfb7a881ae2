/**
 * Benchmarks of the sandbox core against baselines measured in the same run on the same
 * engine: the docker CLI, tar piped into docker exec, rsync over ssh.
 * Run with `npm run bench`; needs the Docker engine, the built image, and rsync + ssh.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, promises as fs } from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import Dockerode from 'dockerode';
import { SandboxController } from '../src/core/controller';
import { sandboxImageTag } from '../src/core/images';
import { DockerProvider } from '../src/core/providers/docker';
import { LABELS } from '../src/core/labels';
import { StateStore } from '../src/core/store/stateStore';
import { desktopBenchmarks } from './desktop';
import { pullBenchmarks } from './pull';
import { incrementalPushBenchmark } from './push';
import { makeTree, ms, percentile, ratioLine, report, sample, sh, time } from './util';

const CLI = path.resolve(__dirname, '..', '..', 'dist', 'cli.js');
const docker = new Dockerode();
const stateDir = mkdtempSync(path.join(os.tmpdir(), 'sandbox-bench-'));
const store = new StateStore(stateDir);
const controller = new SandboxController({ store });
const baselineLabel = 'dev.agent-sandboxes.bench=baseline';
const env = { AGENT_SANDBOXES_HOME: stateDir };

async function coldStart(): Promise<void> {
  const image = sandboxImageTag();
  const runs = 5;
  const ours = await sample(runs, async (i) => {
    await sh(`node ${CLI} start --name bench-cold-${i} >/dev/null && node ${CLI} exec bench-cold-${i} -- true`, env);
  });
  const baseline = await sample(runs, async (i) => {
    await sh(`cid=$(docker run -d --label ${baselineLabel} --name bench-baseline-cold-${i} ${image}) && docker exec "$cid" true`);
  });
  report('Cold `sandbox start` to the first exec result', [
    ['sandbox start + sandbox exec (median)', ms(percentile(ours, 50))],
    ['docker run -d + docker exec (median)', ms(percentile(baseline, 50))],
    ['ratio', ratioLine(percentile(ours, 50), percentile(baseline, 50))],
  ]);
}

async function execLatency(ref: string, containerId: string): Promise<void> {
  const count = 60;
  await controller.exec(ref, { command: ['true'] }); // warm the connection pool
  const ours = await sample(count, () => controller.exec(ref, { command: ['true'] }));
  const baseline = await sample(count / 2, () => sh(`docker exec ${containerId} true`));
  report('Exec of `true`', [
    ['controller p50 / p95', `${ms(percentile(ours, 50))} / ${ms(percentile(ours, 95))}`],
    ['docker exec CLI p50 / p95', `${ms(percentile(baseline, 50))} / ${ms(percentile(baseline, 95))}`],
    ['p50 ratio', ratioLine(percentile(ours, 50), percentile(baseline, 50), 0.3)],
    ['p95 ratio', ratioLine(percentile(ours, 95), percentile(baseline, 95), 0.3)],
  ]);
}

async function push(ref: string, containerId: string): Promise<void> {
  const tree = mkdtempSync(path.join(os.tmpdir(), 'bench-tree-'));
  await makeTree(tree, 5000, 50 * 1024 * 1024);
  const runs = 3;
  const ours = await sample(runs, (i) => controller.push(ref, { localRoot: tree, remoteDir: `/tmp/ours-${i}`, full: true }));
  const baseline = await sample(runs, (i) =>
    sh(`docker exec ${containerId} mkdir -p /tmp/base-${i} && tar -C ${tree} -cf - . | docker exec -i ${containerId} tar -C /tmp/base-${i} -xf -`),
  );
  report('Push of a 5,000-file, 50 MB tree', [
    ['sandbox push (median)', ms(percentile(ours, 50))],
    ['tar c | docker exec -i tar x (median)', ms(percentile(baseline, 50))],
    ['ratio', ratioLine(percentile(ours, 50), percentile(baseline, 50), 1.2)],
  ]);

  await fs.rm(tree, { recursive: true, force: true });
}

async function parallelStart(): Promise<void> {
  const count = 10;
  const elapsed = await time(() =>
    Promise.all(
      Array.from({ length: count }, async (_, i) => {
        const record = await controller.create({ name: `bench-par-${i}` });
        await controller.exec(record.id, { command: ['true'] });
      }),
    ),
  );
  await new Promise((resolve) => setTimeout(resolve, 3000)); // let the idle sandboxes settle
  const record = (await controller.list()).find((r) => r.name === 'bench-par-0')!;
  const stats = (await docker.getContainer(record.providerRef!).stats({ stream: false })) as { memory_stats: { usage: number; stats?: { cache?: number } } };
  const memory = stats.memory_stats.usage - (stats.memory_stats.stats?.cache ?? 0);
  for (const sandbox of await controller.list()) await controller.delete(sandbox.id);

  // The same on the docker CLI, with the same network and published port.
  const image = sandboxImageTag();
  const baseline = await time(() =>
    sh(
      Array.from(
        { length: count },
        (_, i) =>
          `(docker run -d --label ${baselineLabel} --network agent-sandboxes -p 127.0.0.1::22 --name bench-baseline-par-${i} ${image} >/dev/null && docker exec bench-baseline-par-${i} true) &`,
      ).join('\n') + '\nwait',
    ),
  );
  report(`${count} sandboxes started in parallel to exec-ready`, [
    ['controller, wall time', ms(elapsed)],
    ['docker run -d + docker exec, wall time', ms(baseline)],
    ['ratio', ratioLine(elapsed, baseline)],
    ['target', '< 3000 ms ' + (elapsed < 3000 ? '(met)' : '(NOT met)')],
    ['memory of one idle sandbox', `${(memory / 1024 / 1024).toFixed(1)} MiB`],
  ]);
}

/** Exec over the sandbox's persistent SSH connection, against a fresh `ssh` per command and the Docker exec paths. */
async function sshExecLatency(ref: string, containerId: string): Promise<void> {
  const count = 60;
  const overSsh = new SandboxController({ store, execChannel: 'ssh' });
  const overDockerApi = new SandboxController({ store, providers: { docker: new DockerProvider({ execChannel: 'docker' }) } });
  try {
    await overSsh.exec(ref, { command: ['true'] }); // connect once
    const ssh = await sample(count, () => overSsh.exec(ref, { command: ['true'] }));
    const agent = await sample(count, () => controller.exec(ref, { command: ['true'] }));
    const dockerApi = await sample(count / 2, () => overDockerApi.exec(ref, { command: ['true'] }));
    const target = await controller.sshTarget(ref);
    const freshSsh = await sample(count / 2, () => sh(`ssh -F ${target.configFile} -o BatchMode=yes ${target.alias} true`));
    const dockerCli = await sample(count / 2, () => sh(`docker exec ${containerId} true`));
    const p = (values: number[]) => `${ms(percentile(values, 50))} / ${ms(percentile(values, 95))}`;
    report('Exec of `true` over SSH, p50 / p95', [
      ['persistent SSH session (ssh2)', p(ssh)],
      ['fresh `ssh host true` per command', p(freshSsh)],
      ['Docker exec through the engine API', p(dockerApi)],
      ['docker exec CLI', p(dockerCli)],
      ['exec agent over the engine (the Docker default)', p(agent)],
      ['p50 vs fresh ssh', ratioLine(percentile(ssh, 50), percentile(freshSsh, 50), 0.1)],
      ['p50 vs Docker exec (API)', ratioLine(percentile(ssh, 50), percentile(dockerApi, 50), 1)],
    ]);
  } finally {
    overSsh.dispose();
  }
}

/** 100 MB read through a forwarded port, against the same read over plain loopback. */
async function forwardThroughput(ref: string): Promise<void> {
  const size = 100 * 1024 * 1024;
  const port = 8766;
  // Inside: a server that sends `size` bytes to each connection.
  await controller.exec(ref, {
    // bash for its /dev/tcp, to wait until the server listens
    command: [
      'bash',
      '-c',
      `(setsid python3 -c '
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1", ${port})); s.listen(8)
chunk = bytes(1 << 20)
while True:
    c, _ = s.accept()
    try:
        for _ in range(${size >> 20}): c.sendall(chunk)
    except OSError:
        pass
    c.close()
' > /dev/null 2>&1 &) ; for i in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/${port}) 2>/dev/null && break; sleep 0.1; done`,
    ],
  });
  const forward = await controller.forward(ref, port);
  // Outside: the same server in this process on plain loopback.
  const chunk = Buffer.alloc(1 << 20);
  const server = net.createServer((socket) => {
    let sent = 0;
    const pump = () => {
      while (sent < size) {
        sent += chunk.length;
        if (!socket.write(chunk)) return void socket.once('drain', pump);
      }
      socket.end();
    };
    pump();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const loopbackPort = (server.address() as net.AddressInfo).port;
  const readAll = (targetPort: number) =>
    new Promise<number>((resolve, reject) => {
      let received = 0;
      const socket = net.connect(targetPort, '127.0.0.1');
      socket.on('data', (data) => (received += data.length));
      socket.on('error', reject);
      socket.on('close', () => (received === size ? resolve(received) : reject(new Error(`got ${received} of ${size} bytes`))));
    });
  // A second reference: OpenSSH's own client forwarding the same port.
  const target = await controller.sshTarget(ref);
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const opensshPort = (probe.address() as net.AddressInfo).port;
  await new Promise((resolve) => probe.close(resolve));
  const openssh = spawn('ssh', ['-F', target.configFile, '-o', 'BatchMode=yes', '-N', '-L', `127.0.0.1:${opensshPort}:127.0.0.1:${port}`, target.alias], {
    stdio: 'ignore',
  });
  try {
    const runs = 3;
    const forwarded = await sample(runs, () => readAll(forward.localPort));
    const loopback = await sample(runs, () => readAll(loopbackPort));
    for (let attempt = 0; attempt < 50; attempt++) {
      const listening = await new Promise<boolean>((resolve) =>
        net
          .connect(opensshPort, '127.0.0.1')
          .once('connect', function (this: net.Socket) {
            this.destroy();
            resolve(true);
          })
          .once('error', () => resolve(false)),
      );
      if (listening) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const opensshForward = await sample(runs, () => readAll(opensshPort));
    const rate = (elapsed: number) => `${(size / 1024 / 1024 / (elapsed / 1000)).toFixed(0)} MiB/s`;
    const forwardedRate = size / percentile(forwarded, 50);
    const loopbackRate = size / percentile(loopback, 50);
    report('100 MB through a forwarded port', [
      ['forwarded over SSH (median)', `${ms(percentile(forwarded, 50))}, ${rate(percentile(forwarded, 50))}`],
      ['plain loopback (median)', `${ms(percentile(loopback, 50))}, ${rate(percentile(loopback, 50))}`],
      ['OpenSSH `ssh -L` on the same sandbox (median)', `${ms(percentile(opensshForward, 50))}, ${rate(percentile(opensshForward, 50))}`],
      ['vs OpenSSH', `${(percentile(opensshForward, 50) / percentile(forwarded, 50)).toFixed(2)}x its throughput`],
      [
        'throughput ratio',
        `${(forwardedRate / loopbackRate).toFixed(2)}x the baseline (target >= 0.5x: ${forwardedRate / loopbackRate >= 0.5 ? 'met' : 'NOT met'})`,
      ],
    ]);
  } finally {
    openssh.kill();
    forward.close();
    server.close();
  }
}

async function cleanUp(): Promise<void> {
  const ownerId = await store.ownerId();
  for (const label of [`${LABELS.owner}=${ownerId}`, baselineLabel]) {
    for (const container of await docker.listContainers({ all: true, filters: { label: [label] } })) {
      await docker.getContainer(container.Id).remove({ force: true });
    }
  }
  await fs.rm(stateDir, { recursive: true, force: true });
}

async function main(): Promise<void> {
  console.log(`# Agent Sandboxes benchmarks (${os.cpus().length} cores, ${new Date().toISOString()})`);
  // `npm run bench -- ssh` runs only the SSH benchmarks, `-- pull` only the pull's memory.
  const only = process.argv[2];
  try {
    // `npm run bench -- desktop` runs only the desktop viewer benchmarks, on a sandbox of their own.
    if (only === 'desktop') return await desktopBenchmarks();
    if (!only) await coldStart();
    const subject = await controller.create({ name: 'bench-subject' });
    if (!only) {
      await execLatency(subject.id, subject.providerRef!);
      await push(subject.id, subject.providerRef!);
    }
    if (!only || only === 'pull') await pullBenchmarks(controller, subject.name, subject.providerRef!, CLI, env);
    // `npm run bench -- push` runs only the incremental push against rsync.
    if (!only || only === 'push') await incrementalPushBenchmark(controller, subject.id, CLI, env);
    if (!only || only === 'ssh') {
      await sshExecLatency(subject.id, subject.providerRef!);
      await forwardThroughput(subject.id);
    }
    await controller.delete(subject.id);
    await cleanUp();
    if (!only) await parallelStart();
  } finally {
    controller.dispose();
    await cleanUp();
  }
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
