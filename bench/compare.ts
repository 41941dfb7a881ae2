/**
 * `npm run bench:compare -- <git-ref>`: the core figures of this checkout against those of another
 * commit, measured in one run on the same engine, alternating (ABAB) so drift in the machine's
 * load hits both alike. The other commit is built in a temporary git worktree, driven through
 * its own `dist/cli.js` (processes) and its compiled `SandboxController` (in-process), whose
 * public API both commits share.
 */
import { mkdtempSync, promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Dockerode from 'dockerode';
import { LABELS } from '../src/core/labels';
import { makeTree, ms, percentile, report, scaled, sh, time } from './util';

const REPO = path.resolve(__dirname, '..', '..');
const OWNER_LABEL = LABELS.owner;

/** What both commits' controllers offer, as far as these figures use it. */
interface ComparableController {
  create(options: { name: string }): Promise<{ id: string; name: string }>;
  exec(ref: string, request: { command: string[] }): Promise<unknown>;
  push(ref: string, options: { localRoot: string; remoteDir: string }): Promise<{ files: number }>;
  delete(ref: string): Promise<unknown>;
  dispose(): void;
}

interface Side {
  label: string;
  /** The same state dir's sandboxes, with commands over each one's SSH connection. */
  overSsh: ComparableController;
  cli: string;
  env: NodeJS.ProcessEnv;
  stateDir: string;
  controller: ComparableController;
  subject?: { id: string; name: string };
}

function loadSide(label: string, root: string): Side {
  const stateDir = mkdtempSync(path.join(os.tmpdir(), `bench-compare-${label}-`));
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- another commit's build, found at run time
  const { SandboxController } = require(path.join(root, 'out', 'src', 'core', 'controller.js')) as {
    SandboxController: new (options: { store: unknown; execChannel?: 'ssh' }) => ComparableController;
  };
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- likewise
  const { StateStore } = require(path.join(root, 'out', 'src', 'core', 'store', 'stateStore.js')) as { StateStore: new (root: string) => unknown };
  return {
    label,
    cli: path.join(root, 'dist', 'cli.js'),
    env: { AGENT_SANDBOXES_HOME: stateDir },
    stateDir,
    controller: new SandboxController({ store: new StateStore(stateDir) }),
    overSsh: new SandboxController({ store: new StateStore(stateDir), execChannel: 'ssh' }),
  };
}

async function buildBase(ref: string): Promise<string> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-base-'));
  await fs.rm(dir, { recursive: true });
  const commit = (await sh(`git -C ${REPO} rev-parse --verify --quiet ${JSON.stringify(`${ref}^{commit}`)}`).catch(() => '')).trim();
  if (!commit) throw new Error(`${ref} names no commit in ${REPO}; give a branch, tag or commit hash (see git log).`);
  console.log(`Building ${ref} (${commit.slice(0, 10)}) in ${dir}`);
  await sh(`git -C ${REPO} worktree add --detach ${dir} ${commit} >/dev/null`);
  await fs.symlink(path.join(REPO, 'node_modules'), path.join(dir, 'node_modules'));
  await sh(`cd ${dir} && node esbuild.mjs >/dev/null && npx tsc -p tsconfig.test.json`);
  return dir;
}

/**
 * Runs `measure` for each side in turn, the order swapped every round, and keeps the times by side.
 * `cleanUp` runs untimed right after each turn, e.g. to remove what it started before the other side runs.
 */
async function alternate(
  sides: Side[],
  rounds: number,
  measure: (side: Side, round: number) => Promise<unknown>,
  cleanUp?: (side: Side, round: number) => Promise<unknown>,
): Promise<Map<Side, number[]>> {
  const samples = new Map(sides.map((side) => [side, [] as number[]]));
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? sides : [...sides].reverse();
    for (const side of order) {
      samples.get(side)!.push(await time(() => measure(side, round)));
      if (cleanUp) await cleanUp(side, round);
    }
  }
  return samples;
}

function reportPair(title: string, base: Side, current: Side, samples: Map<Side, number[]>): void {
  const median = (side: Side) => percentile(samples.get(side)!, 50);
  report(title, [
    [`${base.label} (median)`, ms(median(base))],
    [`${current.label} (median)`, ms(median(current))],
    ['current / base', `${(median(current) / median(base)).toFixed(2)}x`],
  ]);
}

/** The figures, each of which `npm run bench:compare -- REF NAME` can run alone. */
const FIGURES = ['cold', 'exec-process', 'exec', 'exec-ssh', 'push', 'push-process', 'list', 'parallel'] as const;

async function main(): Promise<void> {
  const [ref, only] = process.argv.slice(2);
  if (!ref) throw new Error(`Name the commit to compare with: npm run bench:compare -- <git-ref> [${FIGURES.join('|')}]`);
  const wanted = (figure: string) => only === undefined || only === figure;
  if (only !== undefined && !(FIGURES as readonly string[]).includes(only)) {
    throw new Error(`There is no figure called ${only}; name one of ${FIGURES.join(', ')}, or none for all.`);
  }
  // One figure alone gets more rounds, for a finer answer; BENCH_SCALE scales them all.
  const rounds = (all: number) => scaled(only === undefined ? all : all * 4);
  const baseRoot = await buildBase(ref);
  const base = loadSide(`base ${ref}`, baseRoot);
  const current = loadSide('current', REPO);
  const sides = [base, current];
  const tree = mkdtempSync(path.join(os.tmpdir(), 'bench-compare-tree-'));
  console.log(`# This checkout against ${ref} (${os.cpus().length} cores, ${new Date().toISOString()})`);
  try {
    if (wanted('cold')) {
      const cold = await alternate(
        sides,
        rounds(4),
        (side, round) => sh(`node ${side.cli} start --name cmp-cold-${round} >/dev/null && node ${side.cli} exec cmp-cold-${round} -- true`, side.env),
        // Removed at once, so no side runs beside the other's idle sandboxes.
        (side, round) => sh(`node ${side.cli} rm cmp-cold-${round} >/dev/null`, side.env),
      );
      reportPair('`sandbox start` + `sandbox exec` processes, cold', base, current, cold);
    }

    for (const side of sides) side.subject = await side.controller.create({ name: 'cmp-subject' });
    if (wanted('exec-process')) {
      const execProcess = await alternate(sides, rounds(12), (side) => sh(`node ${side.cli} exec cmp-subject -- true`, side.env));
      reportPair('`sandbox exec -- true` process', base, current, execProcess);
    }

    if (wanted('exec')) {
      for (const side of sides) await side.controller.exec(side.subject!.id, { command: ['true'] });
      const execInProcess = await alternate(sides, rounds(40), (side) => side.controller.exec(side.subject!.id, { command: ['true'] }));
      reportPair('controller.exec of `true`, in-process', base, current, execInProcess);
    }

    if (wanted('exec-ssh')) {
      for (const side of sides) await side.overSsh.exec(side.subject!.id, { command: ['true'] }); // connect once
      const overSsh = await alternate(sides, rounds(30), (side) => side.overSsh.exec(side.subject!.id, { command: ['true'] }));
      reportPair("controller.exec of `true` over the sandbox's SSH connection, in-process", base, current, overSsh);
    }

    if (wanted('push') || wanted('push-process')) {
      const files = 5000;
      await makeTree(tree, files, 50 * 1024 * 1024);
      const inProcess = (side: Side) => side.controller.push(side.subject!.id, { localRoot: tree, remoteDir: 'cmp' });
      const asProcess = (side: Side) => sh(`node ${side.cli} sync push cmp-subject ${tree} --to cmp-process >/dev/null`, side.env);
      for (const side of sides) await Promise.all([inProcess(side), asProcess(side)]);
      const pushes = { inProcess: new Map(sides.map((side) => [side, [] as number[]])), process: new Map(sides.map((side) => [side, [] as number[]])) };
      for (let round = 0; round < rounds(6); round++) {
        for (let k = 0; k < 10; k++) {
          const i = (round * 97 + k * 13) % files;
          await fs.appendFile(path.join(tree, `d${i % 50}`, `s${i % 7}`, `f${i}.txt`), `change ${round}\n`);
        }
        const order = round % 2 === 0 ? sides : [...sides].reverse();
        for (const side of order) {
          if (wanted('push')) pushes.inProcess.get(side)!.push(await time(() => inProcess(side)));
          if (wanted('push-process')) pushes.process.get(side)!.push(await time(() => asProcess(side)));
        }
      }
      const title = `of 10 changed files of ${files.toLocaleString('en')}`;
      if (wanted('push')) reportPair(`controller.push ${title}, in-process`, base, current, pushes.inProcess);
      if (wanted('push-process')) reportPair(`\`sandbox sync push\` ${title}, process`, base, current, pushes.process);
    }

    if (wanted('list')) {
      const list = await alternate(sides, rounds(10), (side) => sh(`node ${side.cli} list >/dev/null`, side.env));
      reportPair('`sandbox list` process', base, current, list);
    }
    if (wanted('parallel')) {
      const count = 10;
      const started = new Map<Side, { id: string }[]>();
      const parallel = await alternate(
        sides,
        rounds(2),
        async (side, round) => {
          const records = await Promise.all(
            Array.from({ length: count }, async (_, i) => {
              const record = await side.controller.create({ name: `cmp-par-${round}-${i}` });
              await side.controller.exec(record.id, { command: ['true'] });
              return record;
            }),
          );
          started.set(side, records);
        },
        // Removed at once, so no side runs beside the other's sandboxes.
        async (side) => {
          for (const record of started.get(side) ?? []) await side.controller.delete(record.id);
        },
      );
      reportPair(`${count} sandboxes started in parallel to exec-ready, in-process`, base, current, parallel);
    }
  } finally {
    for (const side of sides) {
      if (side.subject) await side.controller.delete(side.subject.id).catch(() => undefined);
      side.controller.dispose();
      side.overSsh.dispose();
    }
    await removeLeftovers(sides);
    await fs.rm(tree, { recursive: true, force: true });
    await sh(`git -C ${REPO} worktree remove --force ${baseRoot}`).catch(() => undefined);
  }
}

/** Containers either side's state dir made that a failed step left behind, and the state dirs. */
async function removeLeftovers(sides: Side[]): Promise<void> {
  const docker = new Dockerode();
  for (const side of sides) {
    const ownerId = (await fs.readFile(path.join(side.stateDir, 'owner-id'), 'utf8').catch(() => '')).trim();
    if (ownerId) {
      for (const container of await docker.listContainers({ all: true, filters: { label: [`${OWNER_LABEL}=${ownerId}`] } })) {
        await docker
          .getContainer(container.Id)
          .remove({ force: true })
          .catch(() => undefined);
      }
    }
    await fs.rm(side.stateDir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
