/**
 * Incremental push as a user meets it: a `sandbox sync push` process against rsync over a warm
 * OpenSSH connection (ControlMaster), 10 changed files of 5,000, runs interleaved. The same push
 * in-process (the extension's way) is printed beside them; rsync has no in-process form, so its
 * ratio is against the rsync process, and the cost of starting Node is printed to tell them apart.
 */
import { promises as fs, mkdtempSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { SandboxController } from '../src/core/controller';
import { makeTree, ms, percentile, ratioLine, report, scaled, sh, time } from './util';

const FILES = 5000;
const CHANGED = 10;

export async function incrementalPushBenchmark(controller: SandboxController, ref: string, cli: string, env: NodeJS.ProcessEnv): Promise<void> {
  const rounds = scaled(9, 3);
  const tree = mkdtempSync(path.join(os.tmpdir(), 'bench-push-tree-'));
  const control = mkdtempSync(path.join(os.tmpdir(), 'bench-push-ssh-'));
  await makeTree(tree, FILES, 50 * 1024 * 1024);
  const record = await controller.status(ref);
  const target = await controller.sshTarget(ref);
  const ssh = `ssh -F ${target.configFile} -o BatchMode=yes -o ControlMaster=auto -o ControlPath=${control}/cm-%C -o ControlPersist=120`;
  const rsync = () => sh(`rsync -a --delete -e "${ssh}" ${tree}/ ${target.alias}:/home/agent/bench-rsync/`);
  const processPush = () => sh(`node ${cli} sync push ${record.name} ${tree} --to bench-process`, env);
  const inProcessPush = () => controller.push(ref, { localRoot: tree, remoteDir: 'bench-in-process' });

  try {
    await sh(`${ssh} ${target.alias} true`); // the master connection: warm from here on
    await Promise.all([rsync(), processPush(), inProcessPush()]);
    const runs: Record<'process' | 'inProcess' | 'rsync', number[]> = { process: [], inProcess: [], rsync: [] };
    const startup: number[] = [];
    const load: number[] = [];
    let sent = 0;
    for (let round = 0; round < rounds; round++) {
      for (let k = 0; k < CHANGED; k++) {
        const i = (round * 97 + k * 13) % FILES;
        await fs.appendFile(path.join(tree, `d${i % 50}`, `s${i % 7}`, `f${i}.txt`), `change ${round}\n`);
      }
      // A different order each round, so no contender always runs on a cache the other warmed.
      const contenders: [keyof typeof runs, () => Promise<unknown>][] = [
        ['process', processPush],
        ['inProcess', async () => (sent = (await inProcessPush()).files)],
        ['rsync', rsync],
      ];
      for (let turn = 0; turn < contenders.length; turn++) {
        const [name, run] = contenders[(round + turn) % contenders.length]!;
        runs[name].push(await time(run));
      }
      startup.push(await time(() => sh('node -e 0')));
      load.push(await time(() => sh(`node ${cli} --version`, env)));
    }
    const median = (values: number[]) => percentile(values, 50);
    report(`Incremental push, ${CHANGED} changed files of ${FILES.toLocaleString('en')}, ${rounds} rounds interleaved`, [
      ['files sent by sandbox push', String(sent)],
      ['per process: `sandbox sync push` (median)', ms(median(runs.process))],
      ['per process: rsync -a over a warm ssh ControlMaster (median)', ms(median(runs.rsync))],
      ['per-process ratio', ratioLine(median(runs.process), median(runs.rsync), 2)],
      ['in-process: controller.push (median)', ms(median(runs.inProcess))],
      ['in-process vs the rsync process (rsync has no in-process form)', ratioLine(median(runs.inProcess), median(runs.rsync))],
      ['of which: `node -e 0` / `sandbox --version` (median)', `${ms(median(startup))} / ${ms(median(load))}`],
    ]);
  } finally {
    await sh(`${ssh} -O exit ${target.alias}`).catch(() => undefined);
    await fs.rm(tree, { recursive: true, force: true });
    await fs.rm(control, { recursive: true, force: true });
  }
}
