/**
 * Peak memory of a 1 GB `sandbox sync pull`, process against process: our CLI, and the docker
 * CLI copying the same folder to disk (`docker cp` to a tar file, and tar over `docker exec`
 * unpacked by the local tar), each measured by GNU time's maximum resident set size.
 */
import { mkdtempSync, promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { SandboxController } from '../src/core/controller';
import { ms, ratioLine, report, sh } from './util';

const REMOTE_DIR = '/home/agent/pull-bench';
const BIG_FILES = 7;
const BIG_FILE_MIB = 128;
const SMALL_FILES = 2000;
const SMALL_FILE_KIB = 16;
/** The target for the peak memory of this pull. */
const TARGET_MB = 100;

interface Measured {
  peakBytes: number;
  elapsedMs: number;
}

/** Runs a bash command line under GNU time: the largest resident set of it and its children. */
async function measured(script: string, env: NodeJS.ProcessEnv): Promise<Measured> {
  const folder = mkdtempSync(path.join(os.tmpdir(), 'bench-time-'));
  const out = path.join(folder, 'time');
  try {
    const started = performance.now();
    await sh(`/usr/bin/time -o ${out} -f %M bash -c ${JSON.stringify(script)}`, env);
    const elapsedMs = performance.now() - started;
    const kib = Number((await fs.readFile(out, 'utf8')).trim().split('\n').pop());
    return { peakBytes: kib * 1024, elapsedMs };
  } finally {
    await fs.rm(folder, { recursive: true, force: true });
  }
}

const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;

export async function pullBenchmarks(controller: SandboxController, ref: string, containerId: string, cli: string, env: NodeJS.ProcessEnv): Promise<void> {
  await controller.exec(ref, {
    command: [
      'bash',
      '-c',
      `set -e; mkdir -p ${REMOTE_DIR}/small; cd ${REMOTE_DIR}
       for i in $(seq ${BIG_FILES}); do head -c ${BIG_FILE_MIB}M /dev/urandom > big-$i.bin; done
       head -c ${SMALL_FILE_KIB}K /dev/urandom > small/seed
       for i in $(seq ${SMALL_FILES}); do cp small/seed small/f$i; done; rm small/seed`,
    ],
  });
  const payload = BIG_FILES * BIG_FILE_MIB * 1024 * 1024 + SMALL_FILES * SMALL_FILE_KIB * 1024;
  const local = mkdtempSync(path.join(os.tmpdir(), 'bench-pull-'));
  try {
    const run = async (name: string, script: string): Promise<Measured> => {
      const result = await measured(script.replaceAll('$OUT', path.join(local, name)), env);
      await fs.rm(path.join(local, name), { recursive: true, force: true });
      return result;
    };
    const ours = await run('ours', `node ${cli} sync pull ${ref} ${REMOTE_DIR} --to $OUT > /dev/null`);
    // The same CLI doing next to nothing over the same transport: Node, our code, an open exec channel.
    const atRest = await run('rest', `node ${cli} exec ${ref} -- true`);
    const own = ours.peakBytes - atRest.peakBytes;
    const dockerCp = await run('cp', `mkdir $OUT && docker cp ${containerId}:${REMOTE_DIR} - > $OUT/archive.tar`);
    const tarOverExec = await run('exec', `mkdir $OUT && docker exec ${containerId} tar -C ${REMOTE_DIR} -cf - . | tar -C $OUT -xf -`);
    report(`Pull of ${mb(payload)} (${BIG_FILES} files of ${BIG_FILE_MIB} MiB, ${SMALL_FILES} of ${SMALL_FILE_KIB} KiB), peak resident memory`, [
      ['sandbox sync pull (CLI process)', `${mb(ours.peakBytes)} in ${ms(ours.elapsedMs)}`],
      ['sandbox exec NAME -- true (the CLI at rest)', mb(atRest.peakBytes)],
      ["the pull's own (peak less the CLI at rest)", mb(own)],
      ['docker cp to a tar file (docker CLI)', `${mb(dockerCp.peakBytes)} in ${ms(dockerCp.elapsedMs)}`],
      ['docker exec tar c | tar x (largest process)', `${mb(tarOverExec.peakBytes)} in ${ms(tarOverExec.elapsedMs)}`],
      ['memory vs docker cp', ratioLine(ours.peakBytes, dockerCp.peakBytes)],
      ['memory vs tar over docker exec', ratioLine(ours.peakBytes, tarOverExec.peakBytes)],
      ['time vs tar over docker exec', ratioLine(ours.elapsedMs, tarOverExec.elapsedMs)],
      [
        `target < ${TARGET_MB} MB`,
        `the pull's own ${own < TARGET_MB * 1e6 ? 'met' : 'NOT met'}, the whole process ${ours.peakBytes < TARGET_MB * 1e6 ? 'met' : 'NOT met'}`,
      ],
    ]);
  } finally {
    await fs.rm(local, { recursive: true, force: true });
    await controller.exec(ref, { command: ['rm', '-rf', REMOTE_DIR] });
  }
}
