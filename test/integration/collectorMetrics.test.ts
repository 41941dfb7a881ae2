import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { Collector } from '../../src/core/collector/collector';
import { collectorConfigFile, readCollectorConfig } from '../../src/core/collector/config';
import { collectorParts } from '../../src/core/collector/parts';
import { parseDockerStats } from '../../src/core/collector/dockerStats';
import { PROBE_SCRIPT, parseProbe } from '../../src/core/collector/procStats';
import { CollectorStore, type Sample } from '../../src/core/collector/store';
import type { SandboxRecord } from '../../src/core/model';
import { fingerprint } from '../../src/core/ssh/keys';
import { CLI, TestEnvironment, docker, ensureImage, rootExec, runProgram, uniqueName, waitFor } from './helpers';
import { parseJson } from './sshHostFixtures';

const MB = 1_000_000;

describe('the collector samples running sandboxes: CPU, memory, disk, network, processes', function () {
  this.timeout(300_000);
  const env = new TestEnvironment();
  // A machine of the user's own, without Docker: a sandbox container of another state dir with a real sshd.
  const machine = new TestEnvironment();
  let collector: Collector | undefined;
  let burner: SandboxRecord;
  let writer: SandboxRecord;
  let receiver: SandboxRecord;
  let folder: SandboxRecord;
  const log: string[] = [];

  const samplesOf = (record: SandboxRecord, since = 0): Sample[] => {
    const store = CollectorStore.openForReading(env.stateDir);
    assert.ok(store, 'the collector made its store');
    try {
      return store.samples(record.id, since);
    } finally {
      store.close();
    }
  };
  /** Waits for a sample of `record` taken after `after` that `accepts`, and returns it. */
  const sampleWhere = (record: SandboxRecord, after: number, what: string, accepts: (sample: Sample) => boolean, timeoutMs = 60_000) =>
    waitFor(
      async () => {
        await new Promise((resolve) => setTimeout(resolve, 250));
        return samplesOf(record, after + 1).find(accepts);
      },
      timeoutMs,
      `${what}; samples: ${JSON.stringify(samplesOf(record, after + 1).slice(-3))}; log: ${log.join(' | ')}`,
    );

  before(async function () {
    await ensureImage();
    // Sample every second for the test (five by default).
    await fs.writeFile(collectorConfigFile(env.stateDir), JSON.stringify({ sampleIntervalMs: 1000 }));
    const standIn = await machine.controller.create({ name: uniqueName('standin') });
    const hostName = uniqueName('box');
    const added = await env.cli([
      'host',
      'add',
      hostName,
      '--host',
      '127.0.0.1',
      '--port',
      String(standIn.ports['22']),
      '--user',
      'agent',
      '--identity',
      machine.store.clientKeyPath(standIn.id),
      '--fingerprint',
      fingerprint(standIn.ssh!.hostKey),
    ]);
    assert.equal(added.code, 0, added.stderr);
    [burner, writer, receiver] = await Promise.all(['burn', 'write', 'recv'].map((prefix) => env.controller.create({ name: uniqueName(prefix) })));
    folder = parseJson<SandboxRecord>(await env.cli(['start', '--host', hostName, '--name', uniqueName('folder'), '--json']));
    assert.deepEqual(folder.placement?.kind, 'directory');
    const config = readCollectorConfig(env.stateDir);
    assert.equal(config.sampleIntervalMs, 1000);
    const context = { stateRoot: env.stateDir, controller: env.controller, config, log: (line: string) => log.push(line) };
    collector = new Collector(context, collectorParts(context));
    collector.start();
  });

  after(async function () {
    await collector?.stop();
    await env.dispose();
    await machine.dispose();
  });

  it('sees each sandbox within a few seconds, with its memory, limit and processes, and names it in the store', async function () {
    for (const record of [burner, writer, receiver, folder]) {
      const sample = await sampleWhere(record, 0, `a first sample of ${record.name}`, () => true, 20_000);
      assert.ok(sample.memoryBytes > 1 * MB && sample.memoryBytes < 2_000 * MB, `${record.name}: memory ${sample.memoryBytes}`);
      assert.ok((sample.pids ?? 0) >= 1, `${record.name}: pids ${sample.pids}`);
      assert.ok(sample.cpuPercent >= 0 && sample.cpuPercent < 1000, `${record.name}: cpu ${sample.cpuPercent}`);
    }
    const containerSample = samplesOf(burner).at(-1)!;
    assert.equal(containerSample.memoryLimitBytes, burner.profile.memory, 'the container limit is the profile memory');
    const store = CollectorStore.openForReading(env.stateDir)!;
    try {
      const known = new Map(store.sandboxes().map((sandbox) => [sandbox.sandboxId, sandbox]));
      assert.equal(known.get(burner.id)?.name, burner.name);
      assert.equal(known.get(folder.id)?.provider, 'ssh');
    } finally {
      store.close();
    }
  });

  it('measures a CPU burn, a 100 MB write and a 100 MB push over SSH in three containers at once', async function () {
    const started = Date.now();
    const diskBefore = (await sampleWhere(writer, 0, 'a disk figure of the writer', (sample) => sample.diskBytes !== undefined)).diskBytes!;
    const rxBefore = samplesOf(receiver).at(-1)!.netRxBytes!;
    // What the kernel counted for the burner's cgroup over the same window: the truth to compare with.
    const cgroupCpu = () =>
      rootExec(burner.providerRef!, "cat /sys/fs/cgroup/cpuacct/cpuacct.usage 2>/dev/null || awk '/^usage_usec/ {print $2 * 1000}' /sys/fs/cgroup/cpu.stat");
    const cpuAt = { time: Date.now(), nanos: Number(await cgroupCpu()) };
    const { configFile, alias } = await env.controller.sshTarget(receiver.id);
    const [burn, write, push] = await Promise.all([
      env.controller.exec(burner.id, { command: "timeout 12 sh -c 'while :; do :; done' & timeout 12 sh -c 'while :; do :; done' & wait" }),
      env.controller.exec(writer.id, { command: 'dd if=/dev/zero of=big.bin bs=1M count=100 conv=fsync 2>&1' }),
      runProgram('sh', ['-c', `head -c 100M /dev/zero | ssh -F '${configFile}' -o BatchMode=yes ${alias} 'cat > /dev/null'`]),
    ]);
    const burnEnded = Date.now();
    const cpuTruth = ((Number(await cgroupCpu()) - cpuAt.nanos) / ((burnEnded - cpuAt.time) * 1e6)) * 100;
    assert.equal(burn.exitCode, 0, burn.stderr);
    assert.equal(write.exitCode, 0, write.stdout);
    assert.equal(push.code, 0, push.stderr);

    // The burn: at least half a core in its samples, and on average what the kernel counted.
    await sampleWhere(burner, burnEnded, 'a sample after the burn', () => true);
    const during = samplesOf(burner, cpuAt.time + 1500).filter((sample) => sample.time <= burnEnded);
    assert.ok(during.length >= 5, `${during.length} samples during the burn`);
    const peak = Math.max(...during.map((sample) => sample.cpuPercent));
    const mean = during.reduce((sum, sample) => sum + sample.cpuPercent, 0) / during.length;
    // Two loops take two cores where the machine has them to give; a loaded machine gives less, and
    // the kernel's own count says how much: at least half a core, or most of what the kernel counted.
    const idle = samplesOf(burner).filter((sample) => sample.time < cpuAt.time);
    assert.ok(idle.length > 0 && idle.every((sample) => sample.cpuPercent < 10), `idle before: ${idle.map((sample) => sample.cpuPercent)}`);
    assert.ok(cpuTruth >= 15, `the kernel counted ${cpuTruth.toFixed(1)}% for the burn`);
    assert.ok(peak >= Math.min(50, cpuTruth * 0.8), `the burn peaked at ${peak}% of a core (kernel: ${cpuTruth.toFixed(1)}%)`);
    assert.ok(Math.abs(mean - cpuTruth) <= Math.max(20, cpuTruth * 0.25), `sampled ${mean.toFixed(1)}% on average, the kernel counted ${cpuTruth.toFixed(1)}%`);

    // The write: the writable layer grows by about 100 MB (measured every 12 intervals).
    const grown = await sampleWhere(writer, burnEnded, 'the disk to grow', (sample) => (sample.diskBytes ?? 0) - diskBefore >= 80 * MB, 40_000);
    const delta = grown.diskBytes! - diskBefore;
    assert.ok(delta >= 80 * MB && delta <= 150 * MB, `disk grew ${delta} bytes`);

    // The push: 100 MB in through the receiver's interface.
    const received = await sampleWhere(receiver, burnEnded, 'the bytes received', (sample) => (sample.netRxBytes ?? 0) - rxBefore >= 80 * MB);
    assert.ok(received.netRxBytes! - rxBefore < 200 * MB, `received ${received.netRxBytes! - rxBefore} bytes`);
    assert.ok(Date.now() - started < 120_000);
  });

  it('samples a folder sandbox on an SSH host through /proc over its exec channel: its own processes only', async function () {
    const before = Date.now();
    const burn = env.controller.exec(folder.id, {
      command:
        "timeout 12 sh -c 'while :; do :; done' & timeout 12 sh -c 'while :; do :; done'; wait; dd if=/dev/zero of=folder.bin bs=1M count=20 2>/dev/null",
    });
    // Two busy loops: well past the idle folder's figure even on a loaded machine.
    const busy = await sampleWhere(folder, before, 'the burn in the folder', (sample) => sample.cpuPercent >= 20, 30_000);
    assert.ok((busy.pids ?? 0) >= 2 && (busy.pids ?? 0) < 50, `the folder's marked processes: ${busy.pids}`);
    assert.equal((await burn).exitCode, 0);
    const after = await sampleWhere(folder, Date.now(), 'a quiet sample', (sample) => sample.cpuPercent < 10);
    assert.ok(after.memoryBytes < 500 * MB);
    const grown = await sampleWhere(folder, before, "the folder's size", (sample) => (sample.diskBytes ?? 0) >= 20 * 1024 * 1024, 40_000);
    assert.ok(grown.diskBytes! < 40 * MB, `the folder holds ${grown.diskBytes} bytes`);
  });

  it("the /proc probe, run inside a container, reads its cgroup as the engine's stats do", async function () {
    // The path a container on an SSH host's engine is sampled by, checked against the local engine.
    const probed = await env.controller.inspectExec(receiver.id, {
      command: ['/bin/sh', '-c', PROBE_SCRIPT, 'probe', 'machine', receiver.id, receiver.workdir, '1'],
    });
    assert.equal(probed.exitCode, 0, probed.stderr);
    const probe = parseProbe(probed.stdout, 'machine');
    const engine = parseDockerStats(await docker.getContainer(receiver.providerRef!).stats({ stream: false }))!;
    assert.equal(probe.memoryLimitBytes, receiver.profile.memory, JSON.stringify(probe));
    assert.ok(Math.abs(probe.memoryBytes! - engine.memoryBytes!) < 30 * MB, `memory: probe ${probe.memoryBytes}, engine ${engine.memoryBytes}`);
    assert.ok(Math.abs(probe.pids! - engine.pids!) <= 3, `processes: probe ${probe.pids}, engine ${engine.pids}`);
    assert.ok(
      Math.abs(probe.netRxBytes! - engine.netRxBytes!) < 1 * MB && probe.netRxBytes! > 80 * MB,
      `received: probe ${probe.netRxBytes}, engine ${engine.netRxBytes}`,
    );
    assert.ok(probe.cpuNanos! > 0 && Math.abs(probe.cpuNanos! - engine.cpuNanos!) < 2e9, `cpu: probe ${probe.cpuNanos}, engine ${engine.cpuNanos}`);
    assert.ok(probe.diskBytes! >= 0 && probe.diskBytes! < 10 * MB, `the receiver's workspace: ${probe.diskBytes}`);
  });

  it('shows the samples with `sandbox metrics` and `sandbox top`', async function () {
    const metrics = await env.cli(['metrics', burner.name, '--since', '5m']);
    assert.equal(metrics.code, 0, metrics.stderr);
    assert.match(metrics.stdout, /^TIME\s+CPU\s+MEM\s+DISK\s+NET IN\s+NET OUT\s+PIDS$/m);
    assert.ok(metrics.stdout.split('\n').length > 3, metrics.stdout);
    const json = parseJson<{ version: number; sandbox: { id: string }; samples: Sample[] }>(await env.cli(['metrics', burner.id.slice(0, 8), '--json']));
    assert.equal(json.sandbox.id, burner.id);
    const stored = samplesOf(burner, Date.now() - 10 * 60_000);
    assert.ok(
      json.samples.length >= stored.length - 2 && json.samples.length <= stored.length + 5,
      `${json.samples.length} samples printed, ${stored.length} stored`,
    );
    const busiest = Math.max(...stored.map((sample) => sample.cpuPercent));
    assert.ok(busiest > 10 && json.samples.some((sample) => sample.cpuPercent === busiest), 'the burn is in the printed samples');

    const top = await env.cli(['top', '--once']);
    assert.equal(top.code, 0, top.stderr);
    assert.match(top.stdout, /^NAME\s+PROVIDER\s+CPU\s+MEM \/ LIMIT\s+MEM\s+NET I\/O\s+PIDS$/m);
    for (const record of [burner, writer, receiver, folder]) assert.match(top.stdout, new RegExp(`^${record.name}\\s+${record.provider}\\s+\\d+\\.\\d%`, 'm'));
    const entries = parseJson<{ sandboxes: { name: string; sample: Sample }[] }>(await env.cli(['top', '--once', '--json'])).sandboxes;
    assert.deepEqual(entries.map((entry) => entry.name).sort(), [burner, writer, receiver, folder].map((record) => record.name).sort());

    // Live, it redraws every interval until Ctrl-C.
    const live = spawn(process.execPath, [CLI, 'top'], { env: { ...process.env, AGENT_SANDBOXES_HOME: env.stateDir }, stdio: ['ignore', 'pipe', 'pipe'] });
    let shown = '';
    live.stdout.on('data', (chunk: Buffer) => (shown += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => live.once('exit', resolve));
    await waitFor(() => (shown.match(/^NAME\s+PROVIDER/gm) ?? []).length >= 2 || undefined, 10_000, 'two tables from `sandbox top`').catch((error: Error) => {
      throw new Error(`${error.message}; it printed ${JSON.stringify(shown)}`);
    });
    live.kill('SIGINT');
    assert.equal(await exited, 0);
    assert.ok(shown.includes(burner.name));

    // A state dir no collector ever ran for says how to start one.
    const fresh = new TestEnvironment();
    try {
      const none = await fresh.cli(['top', '--once']);
      assert.equal(none.code, 3);
      assert.match(none.stderr, /No collector has run for this state dir.*`sandbox daemon start`.*`sandbox collector run`/);
      const noMetrics = await fresh.cli(['metrics', 'anything']);
      assert.match(noMetrics.stderr, /No collector has run/);
    } finally {
      await fresh.dispose();
    }
  });

  it('stops sampling a stopped sandbox, and `sandbox metrics` says the collector is not running once it stopped', async function () {
    await env.controller.stop(writer.id);
    const stoppedAt = Date.now();
    await new Promise((resolve) => setTimeout(resolve, 3000));
    assert.deepEqual(
      samplesOf(writer, stoppedAt + 1500).map((sample) => sample.time),
      [],
      'no sample after the stop',
    );
    await collector!.stop();
    collector = undefined;
    await new Promise((resolve) => setTimeout(resolve, 3500));
    const stale = await env.cli(['metrics', burner.name]);
    assert.equal(stale.code, 0, stale.stderr);
    assert.match(stale.stdout, /The newest sample is \d+s old: the collector may not be running; start one with `sandbox daemon start`/);
    assert.ok(path.isAbsolute(env.stateDir));
  });
});
