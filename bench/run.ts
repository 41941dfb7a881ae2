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

/** Cold start to the first exec result: a `sandbox` process pair against a `docker` process pair, interleaved (ABAB), each removed before the other runs. */
async function coldStart(): Promise<void> {
  const image = sandboxImageTag();
  const runs = 5;
  const ours: number[] = [];
  const baseline: number[] = [];
  for (let i = 0; i < runs; i++) {
    const contenders: [number[], () => Promise<unknown>, () => Promise<unknown>][] = [
      [
        ours,
        () => sh(`node ${CLI} start --name bench-cold-${i} >/dev/null && node ${CLI} exec bench-cold-${i} -- true`, env),
        () => sh(`node ${CLI} rm bench-cold-${i} >/dev/null`, env),
      ],
      [
        baseline,
        () => sh(`cid=$(docker run -d --label ${baselineLabel} --name bench-baseline-cold-${i} ${image}) && docker exec "$cid" true`),
        () => sh(`docker rm -f bench-baseline-cold-${i} >/dev/null`),
      ],
    ];
    if (i % 2 === 1) contenders.reverse();
    for (const [samples, run, remove] of contenders) {
      samples.push(await time(run));
      await remove();
    }
  }
  report(`Cold start to the first exec result, ${runs} runs interleaved`, [
    ['`sandbox start` + `sandbox exec` processes (median)', ms(percentile(ours, 50))],
    ['`docker run -d` + `docker exec` processes (median)', ms(percentile(baseline, 50))],
    ['ratio', ratioLine(percentile(ours, 50), percentile(baseline, 50))],
  ]);
}

/** Runs `true` through the engine API's exec in this process: the baseline for the in-process exec. */
async function engineApiExec(containerId: string): Promise<void> {
  const exec = await docker.getContainer(containerId).exec({ Cmd: ['true'], AttachStdout: true, AttachStderr: true });
  const stream = await exec.start({ hijack: true, stdin: false });
  await new Promise<void>((resolve, reject) => {
    stream.on('end', resolve).on('close', resolve).on('error', reject);
    stream.resume();
  });
  await exec.inspect();
}

/** Exec of `true`, like with like: in this process against the engine API's exec, and a `sandbox exec` process against a `docker exec` process. */
async function execLatency(ref: string, name: string, containerId: string): Promise<void> {
  const count = 40;
  await controller.exec(ref, { command: ['true'] }); // warm the exec agent
  await engineApiExec(containerId);
  const inProcess = { ours: [] as number[], api: [] as number[] };
  for (let i = 0; i < count; i++) {
    // ABAB, so drift in the machine's load hits both alike.
    const pair: [number[], () => Promise<unknown>][] = [
      [inProcess.ours, () => controller.exec(ref, { command: ['true'] })],
      [inProcess.api, () => engineApiExec(containerId)],
    ];
    if (i % 2 === 1) pair.reverse();
    for (const [samples, run] of pair) samples.push(await time(run));
  }
  const perProcess = { ours: [] as number[], cli: [] as number[] };
  for (let i = 0; i < count / 4; i++) {
    const pair: [number[], () => Promise<unknown>][] = [
      [perProcess.ours, () => sh(`node ${CLI} exec ${name} -- true`, env)],
      [perProcess.cli, () => sh(`docker exec ${containerId} true`)],
    ];
    if (i % 2 === 1) pair.reverse();
    for (const [samples, run] of pair) samples.push(await time(run));
  }
  const p = (values: number[]) => `${ms(percentile(values, 50))} / ${ms(percentile(values, 95))}`;
  report('Exec of `true`, p50 / p95, interleaved', [
    ['in-process: controller.exec (exec agent)', p(inProcess.ours)],
    ['in-process: the engine API exec (dockerode)', p(inProcess.api)],
    ['in-process p50 ratio', ratioLine(percentile(inProcess.ours, 50), percentile(inProcess.api, 50), 1)],
    ['per process: `sandbox exec`', p(perProcess.ours)],
    ['per process: `docker exec`', p(perProcess.cli)],
    ['per-process p50 ratio', ratioLine(percentile(perProcess.ours, 50), percentile(perProcess.cli, 50))],
  ]);
}

/** A full push of a fresh tree: in-process, and a `sandbox sync push` process against tar piped into a `docker exec` process, interleaved. */
async function push(ref: string, name: string, containerId: string): Promise<void> {
  const tree = mkdtempSync(path.join(os.tmpdir(), 'bench-tree-'));
  await makeTree(tree, 5000, 50 * 1024 * 1024);
  const runs = 3;
  const inProcess: number[] = [];
  const perProcess: number[] = [];
  const baseline: number[] = [];
  for (let i = 0; i < runs; i++) {
    const contenders: [number[], () => Promise<unknown>][] = [
      [inProcess, () => controller.push(ref, { localRoot: tree, remoteDir: `/tmp/ours-${i}`, full: true })],
      [perProcess, () => sh(`node ${CLI} sync push ${name} ${tree} --to /tmp/process-${i} --full >/dev/null`, env)],
      [
        baseline,
        () => sh(`docker exec ${containerId} mkdir -p /tmp/base-${i} && tar -C ${tree} -cf - . | docker exec -i ${containerId} tar -C /tmp/base-${i} -xf -`),
      ],
    ];
    for (let turn = 0; turn < contenders.length; turn++) {
      const [samples, run] = contenders[(i + turn) % contenders.length]!;
      samples.push(await time(run));
    }
  }
  const median = (values: number[]) => percentile(values, 50);
  report(`Push of a 5,000-file, 50 MB tree, ${runs} runs interleaved`, [
    ['`sandbox sync push --full` process (median)', ms(median(perProcess))],
    ['tar c | docker exec -i tar x processes (median)', ms(median(baseline))],
    ['process vs processes', ratioLine(median(perProcess), median(baseline), 1.2)],
    ['controller.push in-process (median)', ms(median(inProcess))],
  ]);
  await fs.rm(tree, { recursive: true, force: true });
}

/** Ten sandboxes started at once to exec-ready, against the same on the docker CLI, interleaved (ABAB), each side removed before the other runs. */
async function parallelStart(): Promise<void> {
  const count = 10;
  const rounds = 2;
  const image = sandboxImageTag();
  const ours: number[] = [];
  const baseline: number[] = [];
  let memory = 0;
  const startOurs = async () => {
    const elapsed = await time(() =>
      Promise.all(
        Array.from({ length: count }, async (_, i) => {
          const record = await controller.create({ name: `bench-par-${i}` });
          await controller.exec(record.id, { command: ['true'] });
        }),
      ),
    );
    if (memory === 0) {
      await new Promise((resolve) => setTimeout(resolve, 3000)); // let the idle sandboxes settle
      const record = (await controller.list()).find((r) => r.name === 'bench-par-0')!;
      const stats = (await docker.getContainer(record.providerRef!).stats({ stream: false })) as {
        memory_stats: { usage: number; stats?: { cache?: number } };
      };
      memory = stats.memory_stats.usage - (stats.memory_stats.stats?.cache ?? 0);
    }
    for (const sandbox of await controller.list()) await controller.delete(sandbox.id);
    return elapsed;
  };
  // The same on the docker CLI, with the same network and published port.
  const startBaseline = async () => {
    const elapsed = await time(() =>
      sh(
        Array.from(
          { length: count },
          (_, i) =>
            `(docker run -d --label ${baselineLabel} --network agent-sandboxes -p 127.0.0.1::22 --name bench-baseline-par-${i} ${image} >/dev/null && docker exec bench-baseline-par-${i} true) &`,
        ).join('\n') + '\nwait',
      ),
    );
    await sh(`docker rm -f ${Array.from({ length: count }, (_, i) => `bench-baseline-par-${i}`).join(' ')} >/dev/null`);
    return elapsed;
  };
  for (let round = 0; round < rounds; round++) {
    if (round % 2 === 0) {
      ours.push(await startOurs());
      baseline.push(await startBaseline());
    } else {
      baseline.push(await startBaseline());
      ours.push(await startOurs());
    }
  }
  const median = (values: number[]) => percentile(values, 50);
  report(`${count} sandboxes started in parallel to exec-ready, ${rounds} rounds interleaved`, [
    ['controller, wall time (median)', ms(median(ours))],
    ['docker run -d + docker exec, wall time (median)', ms(median(baseline))],
    ['ratio', ratioLine(median(ours), median(baseline))],
    ['target', '< 3000 ms ' + (median(ours) < 3000 ? '(met)' : '(NOT met)')],
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
    // OpenSSH over a warm master connection: its own reuse of one connection, as ours reuses the session.
    const control = mkdtempSync(path.join(os.tmpdir(), 'bench-ssh-control-'));
    const muxSsh = `ssh -F ${target.configFile} -o BatchMode=yes -o ControlMaster=auto -o ControlPath=${control}/cm-%C -o ControlPersist=60`;
    await sh(`${muxSsh} ${target.alias} true`);
    const multiplexedSsh = await sample(count / 2, () => sh(`${muxSsh} ${target.alias} true`));
    await sh(`${muxSsh} -O exit ${target.alias}`).catch(() => undefined);
    await fs.rm(control, { recursive: true, force: true });
    const dockerCli = await sample(count / 2, () => sh(`docker exec ${containerId} true`));
    const p = (values: number[]) => `${ms(percentile(values, 50))} / ${ms(percentile(values, 95))}`;
    report('Exec of `true` over SSH, p50 / p95', [
      ['persistent SSH session (ssh2)', p(ssh)],
      ['fresh `ssh host true` per command', p(freshSsh)],
      ['`ssh host true` over a warm ControlMaster', p(multiplexedSsh)],
      ['Docker exec through the engine API', p(dockerApi)],
      ['docker exec CLI', p(dockerCli)],
      ['exec agent over the engine (the Docker default)', p(agent)],
      ['p50 vs fresh ssh', ratioLine(percentile(ssh, 50), percentile(freshSsh, 50), 0.1)],
      ['p50 vs multiplexed ssh', ratioLine(percentile(ssh, 50), percentile(multiplexedSsh, 50), 1)],
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
      await execLatency(subject.id, subject.name, subject.providerRef!);
      await push(subject.id, subject.name, subject.providerRef!);
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
