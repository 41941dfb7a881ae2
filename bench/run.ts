/**
 * Benchmarks of the sandbox core against baselines measured in the same run on the same
 * engine: the docker CLI, tar piped into docker exec, rsync over ssh.
 * Run with `npm run bench`; needs the Docker engine, the built image, and rsync + ssh.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Dockerode from 'dockerode';
import { SandboxController } from '../src/core/controller';
import { sandboxImageTag } from '../src/core/images';
import { LABELS } from '../src/core/providers/labels';
import { StateStore } from '../src/core/store/stateStore';
import { ms, percentile, ratioLine, report, sample, sh, time } from './util';

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
  report(
    'Cold `sandbox start` to the first exec result',
    [
      ['sandbox start + sandbox exec (median)', ms(percentile(ours, 50))],
      ['docker run -d + docker exec (median)', ms(percentile(baseline, 50))],
      ['ratio', ratioLine(percentile(ours, 50), percentile(baseline, 50))],
    ],
  );
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

async function makeTree(root: string, files: number, totalBytes: number): Promise<void> {
  const size = Math.floor(totalBytes / files);
  for (let i = 0; i < files; i++) {
    const dir = path.join(root, `d${i % 50}`, `s${i % 7}`);
    await fs.mkdir(dir, { recursive: true });
    const content = Buffer.alloc(size, i % 251);
    content.write(`file ${i}\n`);
    await fs.writeFile(path.join(dir, `f${i}.txt`), content);
  }
}

async function push(ref: string, containerId: string, sshPort: number): Promise<void> {
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

  // Incremental: both sides already hold the tree; 10 files change between rounds.
  const sshDir = mkdtempSync(path.join(os.tmpdir(), 'bench-ssh-'));
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(sshDir, 'key')]);
  const publicKey = await fs.readFile(path.join(sshDir, 'key.pub'), 'utf8');
  await controller.exec(ref, { command: 'mkdir -p ~/.ssh && cat > ~/.ssh/authorized_keys && chmod 700 ~/.ssh && chmod 600 ~/.ssh/authorized_keys', stdin: publicKey });
  // The host key comes over the Docker API, a channel we already trust: no trust on first use.
  const hostKey = (await controller.exec(ref, { command: ['cat', '/etc/ssh/ssh_host_ed25519_key.pub'] })).stdout.trim();
  await fs.writeFile(path.join(sshDir, 'known_hosts'), `[127.0.0.1]:${sshPort} ${hostKey}\n`);
  const sshCommand = `ssh -p ${sshPort} -i ${sshDir}/key -o UserKnownHostsFile=${sshDir}/known_hosts -o StrictHostKeyChecking=yes -o BatchMode=yes`;
  await controller.push(ref, { localRoot: tree, remoteDir: '/home/agent/incremental-ours' });
  await sh(`rsync -a --delete -e "${sshCommand}" ${tree}/ agent@127.0.0.1:/home/agent/incremental-rsync/`);

  const rounds = 5;
  const oursIncremental: number[] = [];
  const rsyncIncremental: number[] = [];
  let sent = 0;
  for (let round = 0; round < rounds; round++) {
    for (let k = 0; k < 10; k++) {
      const i = round * 97 + k * 13;
      await fs.appendFile(path.join(tree, `d${i % 50}`, `s${i % 7}`, `f${i}.txt`), `change ${round}\n`);
    }
    oursIncremental.push(
      await time(async () => {
        sent = (await controller.push(ref, { localRoot: tree, remoteDir: '/home/agent/incremental-ours' })).files;
      }),
    );
    rsyncIncremental.push(await time(() => sh(`rsync -a --delete -e "${sshCommand}" ${tree}/ agent@127.0.0.1:/home/agent/incremental-rsync/`)));
  }
  report('Incremental push, 10 changed files of 5,000', [
    ['files sent by sandbox push', String(sent)],
    ['sandbox push (median)', ms(percentile(oursIncremental, 50))],
    ['rsync -a over ssh (median)', ms(percentile(rsyncIncremental, 50))],
    ['ratio', ratioLine(percentile(oursIncremental, 50), percentile(rsyncIncremental, 50), 1)],
  ]);
  await fs.rm(tree, { recursive: true, force: true });
  await fs.rm(sshDir, { recursive: true, force: true });
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
        (_, i) => `(docker run -d --label ${baselineLabel} --network agent-sandboxes -p 127.0.0.1::22 --name bench-baseline-par-${i} ${image} >/dev/null && docker exec bench-baseline-par-${i} true) &`,
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
  try {
    await coldStart();
    const subject = await controller.create({ name: 'bench-subject' });
    await execLatency(subject.id, subject.providerRef!);
    await push(subject.id, subject.providerRef!, subject.ports['22']!);
    await controller.delete(subject.id);
    await cleanUp();
    await parallelStart();
  } finally {
    await cleanUp();
  }
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
