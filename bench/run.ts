/**
 * Benchmarks of the sandbox core against baselines measured in the same run on the same engine,
 * like with like and interleaved: in-process against the engine API or ssh2 in this process,
 * processes against the docker CLI, tar over docker exec, rsync and ssh over a warm connection.
 * Run with `npm run bench [-- NAME]`; BENCH_SCALE scales the runs. Needs the Docker engine, the
 * built image, and rsync + ssh.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, promises as fs } from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import Dockerode from 'dockerode';
import * as tar from 'tar-stream';
import { SandboxController } from '../src/core/controller';
import { sandboxImageTag } from '../src/core/images';
import { LABELS } from '../src/core/labels';
import { StateStore } from '../src/core/store/stateStore';
import { desktopBenchmarks } from './desktop';
import { pullBenchmarks } from './pull';
import { incrementalPushBenchmark } from './push';
import { GATE_FIGURES, gateBenchmarks, type GateFigure } from './gates';
import { TASK_FIGURES, taskBenchmarks, type TaskFigure } from './tasks';
import { CLOUD_FIGURES, cloudBenchmarks, type CloudFigure } from './cloud';
import { COLLECTOR_FIGURES, collectorBenchmarks, type CollectorFigure } from './collectorCost';
import { INGEST_FIGURES, ingestBenchmarks, type IngestFigure } from './collectorIngest';
import { execLatency, sshExecLatency, type ExecSubject } from './exec';
import { execSocketLatency } from './execSocket';
import { mcpLatency } from './mcp';
import { interleave, makeTree, median, ms, percentile, ratioLine, report, scaled, sh } from './util';

const CLI = path.resolve(__dirname, '..', '..', 'dist', 'cli.js');
const docker = new Dockerode();
const stateDir = mkdtempSync(path.join(os.tmpdir(), 'sandbox-bench-'));
const store = new StateStore(stateDir);
const controller = new SandboxController({ store });
const baselineLabel = 'dev.agent-sandboxes.bench=baseline';
const env = { AGENT_SANDBOXES_HOME: stateDir };

/** Cold start to the first exec result: a `sandbox` process pair against a `docker` process pair, interleaved (ABAB), each removed before the other runs. */
async function coldStart(): Promise<void> {
  const image = sandboxImageTag();
  const runs = scaled(6);
  const removers = {
    ours: (i: number) => sh(`node ${CLI} rm bench-cold-${i} >/dev/null`, env),
    baseline: (i: number) => sh(`docker rm -f bench-baseline-cold-${i} >/dev/null`),
  };
  const samples = await interleave(
    runs,
    {
      ours: (i) => sh(`node ${CLI} start --name bench-cold-${i} >/dev/null && node ${CLI} exec bench-cold-${i} -- true`, env),
      // With the same network and published SSH port as a sandbox (ours runs first, making the network).
      baseline: (i) =>
        sh(
          `cid=$(docker run -d --label ${baselineLabel} --network agent-sandboxes -p 127.0.0.1::22 --name bench-baseline-cold-${i} ${image}) && docker exec "$cid" true`,
        ),
    },
    (name, i) => removers[name](i),
  );
  report(`Cold start to the first exec result, ${runs} runs interleaved`, [
    ['`sandbox start` + `sandbox exec` processes (median)', ms(median(samples.ours))],
    ['`docker run -d` + `docker exec` processes (median)', ms(median(samples.baseline))],
    ['ratio', ratioLine(median(samples.ours), median(samples.baseline))],
  ]);
}

/** Sends a folder as one tar archive through the engine API in this process, unpacked under `/tmp/<prefix>`. */
async function engineApiPut(containerId: string, root: string, prefix: string): Promise<void> {
  const archive = tar.pack();
  // tar-stream's pack is a streamx Readable, which pipes like a Node stream.
  const upload = docker.getContainer(containerId).putArchive(archive as unknown as NodeJS.ReadableStream, { path: '/tmp' });
  const walk = async (relative: string): Promise<void> => {
    for (const entry of await fs.readdir(path.join(root, relative), { withFileTypes: true })) {
      const name = path.posix.join(relative, entry.name);
      if (entry.isDirectory()) {
        archive.entry({ name: `${prefix}/${name}`, type: 'directory' });
        await walk(name);
      } else {
        // Queued without waiting on each entry: the pack buffers and the upload drains it.
        archive.entry({ name: `${prefix}/${name}` }, await fs.readFile(path.join(root, name)));
      }
    }
  };
  await walk('');
  archive.finalize();
  await upload;
}

/** A full push of a fresh tree, like with like: in-process against the engine API's archive upload, a `sandbox sync push` process against tar piped into a `docker exec` process. */
async function push(ref: string, name: string, containerId: string): Promise<void> {
  const tree = mkdtempSync(path.join(os.tmpdir(), 'bench-tree-'));
  await makeTree(tree, 5000, 50 * 1024 * 1024);
  const runs = scaled(4);
  const samples = await interleave(runs, {
    inProcess: (i) => controller.push(ref, { localRoot: tree, remoteDir: `/tmp/ours-${i}`, full: true }),
    api: (i) => engineApiPut(containerId, tree, `api-${i}`),
    process: (i) => sh(`node ${CLI} sync push ${name} ${tree} --to /tmp/process-${i} --full >/dev/null`, env),
    tarProcesses: (i) =>
      sh(`docker exec ${containerId} mkdir -p /tmp/base-${i} && tar -C ${tree} -cf - . | docker exec -i ${containerId} tar -C /tmp/base-${i} -xf -`),
  });
  report(`Push of a 5,000-file, 50 MB tree, ${runs} runs interleaved`, [
    ['in-process: controller.push --full (median)', ms(median(samples.inProcess))],
    ['in-process: the engine API archive upload, tar-stream (median)', ms(median(samples.api))],
    ['in-process ratio', ratioLine(median(samples.inProcess), median(samples.api))],
    ['per process: `sandbox sync push --full` (median)', ms(median(samples.process))],
    ['per process: tar c | docker exec -i tar x (median)', ms(median(samples.tarProcesses))],
    ['per-process ratio', ratioLine(median(samples.process), median(samples.tarProcesses), 1.2)],
  ]);
  await fs.rm(tree, { recursive: true, force: true });
  await controller.exec(ref, { command: ['bash', '-c', 'rm -rf /tmp/ours-* /tmp/api-* /tmp/process-* /tmp/base-*'], user: 'root' }).catch(() => undefined);
}

/** Ten sandboxes started at once to exec-ready, in-process and as `sandbox` processes, against the same on the docker CLI, interleaved, each removed before the next runs. */
async function parallelStart(): Promise<void> {
  const count = 10;
  const rounds = scaled(2);
  const image = sandboxImageTag();
  let memory = 0;
  const startOurs = () =>
    Promise.all(
      Array.from({ length: count }, async (_, i) => {
        const record = await controller.create({ name: `bench-par-${i}` });
        await controller.exec(record.id, { command: ['true'] });
      }),
    );
  // The same on the docker CLI, with the same network and published port.
  const startBaseline = () =>
    sh(
      Array.from(
        { length: count },
        (_, i) =>
          `(docker run -d --label ${baselineLabel} --network agent-sandboxes -p 127.0.0.1::22 --name bench-baseline-par-${i} ${image} >/dev/null && docker exec bench-baseline-par-${i} true) &`,
      ).join('\n') + '\nwait',
    );
  const removeOurs = async () => {
    if (memory === 0) {
      await new Promise((resolve) => setTimeout(resolve, 3000)); // let the idle sandboxes settle
      const record = (await controller.list()).find((r) => r.name === 'bench-par-0')!;
      const stats = (await docker.getContainer(record.providerRef!).stats({ stream: false })) as {
        memory_stats: { usage: number; stats?: { cache?: number } };
      };
      memory = stats.memory_stats.usage - (stats.memory_stats.stats?.cache ?? 0);
    }
    for (const sandbox of await controller.list()) await controller.delete(sandbox.id);
  };
  // The same through `sandbox` processes, a process pair per sandbox like the docker CLI's.
  const startOurProcesses = () =>
    sh(
      Array.from({ length: count }, (_, i) => `(node ${CLI} start --name bench-par-${i} >/dev/null && node ${CLI} exec bench-par-${i} -- true) &`).join('\n') +
        '\nwait',
      env,
    );
  const removeBaseline = () => sh(`docker rm -f ${Array.from({ length: count }, (_, i) => `bench-baseline-par-${i}`).join(' ')} >/dev/null`);
  const samples = await interleave(rounds, { ours: startOurs, baseline: startBaseline, ourProcesses: startOurProcesses }, (name) =>
    name === 'baseline' ? removeBaseline() : removeOurs(),
  );
  report(`${count} sandboxes started in parallel to exec-ready, ${rounds} rounds interleaved`, [
    ['in-process: controller, wall time (median)', ms(median(samples.ours))],
    ['processes: docker run -d + docker exec, wall time (median)', ms(median(samples.baseline))],
    ['processes: `sandbox start` + `sandbox exec`, wall time (median)', ms(median(samples.ourProcesses))],
    ['in-process vs the docker processes', ratioLine(median(samples.ours), median(samples.baseline))],
    ['processes vs processes', ratioLine(median(samples.ourProcesses), median(samples.baseline))],
    ['target (in-process)', '< 3000 ms ' + (median(samples.ours) < 3000 ? '(met)' : '(NOT met)')],
    ['memory of one idle sandbox', `${(memory / 1024 / 1024).toFixed(1)} MiB`],
  ]);
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
    const runs = scaled(3);
    const reads = await interleave(runs, {
      forwarded: () => readAll(forward.localPort),
      loopback: () => readAll(loopbackPort),
      openssh: () => readAll(opensshPort),
    });
    const { forwarded, loopback } = reads;
    const opensshForward = reads.openssh;
    const rate = (elapsed: number) => `${(size / 1024 / 1024 / (elapsed / 1000)).toFixed(0)} MiB/s`;
    const forwardedRate = size / percentile(forwarded, 50);
    const loopbackRate = size / percentile(loopback, 50);
    report(`100 MB through a forwarded port, ${runs} runs interleaved`, [
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

/** The figures `npm run bench -- NAME` can run alone; with no name, all but the desktop's. */
const FIGURES = [
  'cold',
  'exec',
  'exec-socket',
  'full-push',
  'pull',
  'push',
  'ssh',
  'forward',
  'mcp',
  'parallel',
  'desktop',
  ...TASK_FIGURES,
  ...GATE_FIGURES,
  ...CLOUD_FIGURES,
  ...COLLECTOR_FIGURES,
  ...INGEST_FIGURES,
] as const;

async function main(): Promise<void> {
  const only = process.argv[2];
  const wanted = (figure: (typeof FIGURES)[number]) => (only === undefined ? figure !== 'desktop' : only === figure);
  try {
    if (only !== undefined && !(FIGURES as readonly string[]).includes(only)) {
      throw new Error(`There is no benchmark called ${only}; name one of ${FIGURES.join(', ')}, or none for all but desktop.`);
    }
    console.log(`# Agent Sandboxes benchmarks (${os.cpus().length} cores, ${new Date().toISOString()}, BENCH_SCALE=${process.env.BENCH_SCALE ?? 1})`);
    // The desktop viewer benchmarks run on a sandbox of their own.
    if (wanted('desktop')) return await desktopBenchmarks();
    if (wanted('cold')) await coldStart();
    if (['exec', 'exec-socket', 'full-push', 'pull', 'push', 'ssh', 'forward', 'mcp'].some((figure) => wanted(figure as (typeof FIGURES)[number]))) {
      const record = await controller.create({ name: 'bench-subject' });
      const subject: ExecSubject = { controller, store, ref: record.id, name: record.name, containerId: record.providerRef!, cli: CLI, env };
      if (wanted('exec')) await execLatency(subject);
      if (wanted('exec-socket')) await execSocketLatency(subject);
      if (wanted('full-push')) await push(record.id, record.name, record.providerRef!);
      if (wanted('pull')) await pullBenchmarks(controller, record.name, record.providerRef!, CLI, env);
      if (wanted('push')) await incrementalPushBenchmark(controller, record.id, CLI, env);
      if (wanted('ssh')) await sshExecLatency(subject);
      if (wanted('forward')) await forwardThroughput(record.id);
      if (wanted('mcp')) await mcpLatency(subject);
      await controller.delete(record.id);
      await cleanUp();
    }
    if (wanted('parallel')) await parallelStart();
    await taskBenchmarks((figure: TaskFigure) => wanted(figure), CLI);
    await gateBenchmarks((figure: GateFigure) => wanted(figure));
    await cloudBenchmarks((figure: CloudFigure) => wanted(figure));
    await collectorBenchmarks((figure: CollectorFigure) => wanted(figure));
    await ingestBenchmarks((figure: IngestFigure) => wanted(figure));
  } finally {
    controller.dispose();
    await cleanUp();
  }
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
