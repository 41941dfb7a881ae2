/**
 * Gates and snapshots, in-process on the local engine: a fork of a running sandbox against fresh
 * creates plus a push, the gates' cost on top of the test command's own time, and a rollback to
 * the pre-task snapshot against a new sandbox from the image plus a push. Each figure runs in a
 * temp state dir of its own; its sandboxes and snapshots are removed at the end.
 */
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { SandboxController } from '../src/core/controller';
import { baseRunCacheFile } from '../src/core/gates/paths';
import { judgeChange } from '../src/core/gates/pipeline';
import { prepareGatedAttempt } from '../src/core/gates/prepare';
import { createLimiter } from '../src/core/util/limiter';
import { benchState } from './tasks';
import { interleave, makeTree, median, ms, ratioLine, report, scaled, time } from './util';

export const GATE_FIGURES = ['fork', 'gate-overhead', 'rollback'] as const;
export type GateFigure = (typeof GATE_FIGURES)[number];

const WORKSPACE_BYTES = 200 * 1024 * 1024;
const COPIES = 4;

async function bigWorkspace(): Promise<string> {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'bench-gates-ws-'));
  await makeTree(root, 400, WORKSPACE_BYTES);
  return root;
}

async function execReady(controller: SandboxController, id: string): Promise<void> {
  const result = await controller.exec(id, { command: ['true'] });
  if (result.exitCode !== 0) throw new Error(`A sandbox did not answer: exit ${result.exitCode}.`);
}

async function removeAll(controller: SandboxController): Promise<void> {
  for (const record of await controller.list()) await controller.delete(record.id).catch(() => undefined);
  for (const snapshot of await controller.listSnapshots()) await controller.removeSnapshot(snapshot.name).catch(() => undefined);
}

/** A running sandbox holding 200 MB forked into 4, to exec-ready, against 4 new sandboxes each pushed the same 200 MB. */
async function forkFigure(): Promise<void> {
  const state = benchState();
  const { controller } = state;
  const workspace = await bigWorkspace();
  try {
    const origin = await controller.create({ name: 'bench-fork-origin' });
    await controller.push(origin.id, { localRoot: workspace });
    // The same parallelism as a fork's own (three creates at a time).
    const limit = createLimiter(3);
    const rounds = scaled(2);
    const samples = await interleave(
      rounds,
      {
        fork: async () => {
          const forked = await controller.fork(origin.id, { count: COPIES });
          if (forked.failures.length) throw new Error(`A fork failed: ${forked.failures[0]!.error}`);
          await Promise.all(forked.sandboxes.map((record) => execReady(controller, record.id)));
        },
        fresh: () =>
          Promise.all(
            Array.from({ length: COPIES }, () =>
              limit(async () => {
                const record = await controller.create({});
                await controller.push(record.id, { localRoot: workspace });
                await execReady(controller, record.id);
              }),
            ),
          ),
      },
      async () => {
        for (const record of await controller.list()) if (record.id !== origin.id) await controller.delete(record.id);
        for (const snapshot of await controller.listSnapshots()) await controller.removeSnapshot(snapshot.name);
      },
    );
    report(`Fork a running sandbox with a 200 MB workspace into ${COPIES}, to exec-ready, ${rounds} runs interleaved`, [
      [`in-process: controller.fork(count ${COPIES}) + exec (median)`, ms(median(samples.fork))],
      [`in-process: ${COPIES} x (controller.create + push 200 MB) + exec, 3 at a time (median)`, ms(median(samples.fresh))],
      ['ratio', ratioLine(median(samples.fork), median(samples.fresh), 0.5)],
    ]);
  } finally {
    await removeAll(controller);
    await state.dispose();
    await fs.rm(workspace, { recursive: true, force: true });
  }
}

/** A project whose suite takes about 10 s: ten tests of a second each. */
async function slowSuiteWorkspace(): Promise<string> {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'bench-gates-suite-'));
  await fs.mkdir(path.join(root, '.sandboxes'));
  await fs.writeFile(path.join(root, '.gitignore'), '.report/\n__pycache__/\n');
  await fs.writeFile(path.join(root, 'calc.py'), 'def add(a, b):\n    return a + b\n');
  const tests = Array.from({ length: 10 }, (_, i) => `def test_${i}():\n    time.sleep(1)\n    assert add(${i}, 1) == ${i + 1}\n`).join('\n\n');
  await fs.writeFile(path.join(root, 'test_calc.py'), `import time\nfrom calc import add\n\n\n${tests}`);
  const command = 'python3 -m pytest -q -p no:cacheprovider --junitxml=.report/pytest.xml';
  await fs.writeFile(
    path.join(root, '.sandboxes', 'gates.json'),
    JSON.stringify({ l0: [{ name: 'pytest', command, report: { format: 'junit', path: '.report/pytest.xml' } }] }),
  );
  return root;
}

/**
 * The gates' cost: (snapshot, base copy and push, change pulled, fresh sandbox, checks, report,
 * L1, apply) minus what a task without gates does (push, and the suite run once), over the
 * suite's own time; with the base's run cached (the usual case: the base was checked before) and not.
 */
async function gateOverhead(): Promise<void> {
  // An agent that answers at once, and one that works for 5 s (what the gates start meanwhile is hidden then).
  for (const agentSeconds of [0, 5]) await gateOverheadWith(agentSeconds);
}

async function gateOverheadWith(agentSeconds: number): Promise<void> {
  const state = benchState();
  const { controller, stateDir } = state;
  const project = await slowSuiteWorkspace();
  const suite = 'python3 -m pytest -q -p no:cacheprovider --junitxml=.report/pytest.xml';
  const figures: Record<'cached' | 'uncached', { gated: number[]; plain: number[]; suite: number[] }> = {
    cached: { gated: [], plain: [], suite: [] },
    uncached: { gated: [], plain: [], suite: [] },
  };
  let taskNumber = 0;
  const agentCommand = `${agentSeconds ? `sleep ${agentSeconds}; ` : ''}sed -i 's/a + b/b + a/' calc.py`;
  const oneRun = async (which: 'cached' | 'uncached') => {
    const workspace = await fs.mkdtemp(path.join(os.tmpdir(), 'bench-gates-run-'));
    await fs.cp(project, workspace, { recursive: true });
    const taskId = `bench${++taskNumber}`;
    // Without gates: the workspace pushed, the task's command, the suite run once in its sandbox.
    const plainBox = await controller.create({});
    const plain = await time(async () => {
      await controller.push(plainBox.id, { localRoot: workspace });
      await controller.exec(plainBox.id, { command: agentCommand });
    });
    const suiteRun = await controller.exec(plainBox.id, { command: suite });
    await controller.delete(plainBox.id);
    // With gates: the same, then judged and applied.
    const box = await controller.create({});
    if (which === 'uncached') await fs.rm(path.dirname(baseRunCacheFile(stateDir, 'x')), { recursive: true, force: true });
    const gated = await time(async () => {
      const base = await prepareGatedAttempt(controller, stateDir, { taskId, number: 1, workspace }, box);
      await controller.exec(box.id, { command: agentCommand });
      const verdict = await judgeChange(
        {
          controller,
          stateRoot: stateDir,
          log: () => undefined,
          phase: () => undefined,
          waitForReview: () => Promise.reject(new Error('No review in a benchmark.')),
        },
        { taskId, attempt: 1, priority: 'normal', workspace, record: box, base, lastOutput: [] },
      );
      if (verdict.phase !== 'applied') throw new Error(`The gates did not pass the change: ${verdict.reason}`);
    });
    await controller.delete(box.id);
    await controller.removeSnapshot(`task-${taskId}-1-base`).catch(() => undefined);
    await fs.rm(workspace, { recursive: true, force: true });
    figures[which].gated.push(gated);
    figures[which].plain.push(plain + suiteRun.durationMs);
    figures[which].suite.push(suiteRun.durationMs);
  };
  try {
    const rounds = scaled(2);
    await oneRun('uncached'); // untimed: the cache holds this base from here on
    figures.uncached = { gated: [], plain: [], suite: [] };
    await interleave(rounds, { cached: () => oneRun('cached'), uncached: () => oneRun('uncached') });
    const rows: [string, string][] = [];
    for (const which of ['cached', 'uncached'] as const) {
      const { gated, plain, suite: suiteTimes } = figures[which];
      const added = median(gated) - median(plain);
      const share = added / median(suiteTimes);
      rows.push(
        [`base ${which}: gated task, prepare + judge + apply (median)`, ms(median(gated))],
        [`base ${which}: push + the agent's command + the suite once (median)`, ms(median(plain))],
        [`base ${which}: the suite's own time (median)`, ms(median(suiteTimes))],
        [
          `base ${which}: added by the gates`,
          `${(added / 1000).toFixed(1)} s, ${(share * 100).toFixed(0)}% of the suite's time${which === 'cached' ? ` (target < 25%: ${share < 0.25 ? 'met' : 'NOT met'})` : ''}`,
        ],
      );
    }
    report(`Gate overhead on a suite of about 10 s, the agent's command taking ${agentSeconds} s, ${rounds} runs of each interleaved`, rows);
  } finally {
    await removeAll(controller);
    await state.dispose();
    await fs.rm(project, { recursive: true, force: true });
  }
}

/** Back to the pre-task state: a sandbox from the pre-task snapshot, against a new one from the image with the 200 MB workspace pushed again. */
async function rollbackFigure(): Promise<void> {
  const state = benchState();
  const { controller } = state;
  const workspace = await bigWorkspace();
  try {
    const origin = await controller.create({ name: 'bench-rollback-origin' });
    await controller.push(origin.id, { localRoot: workspace });
    const snapshot = await controller.snapshot(origin.id, { name: 'bench-pre-task' });
    await controller.delete(origin.id);
    const rounds = scaled(3);
    const samples = await interleave(
      rounds,
      {
        snapshot: async () => execReady(controller, (await controller.create({ fromSnapshot: snapshot.name })).id),
        recreate: async () => {
          const record = await controller.create({});
          await controller.push(record.id, { localRoot: workspace });
          await execReady(controller, record.id);
        },
      },
      async () => {
        for (const record of await controller.list()) await controller.delete(record.id);
      },
    );
    report(`Rollback of a sandbox with a 200 MB workspace to its pre-task state, to exec-ready, ${rounds} runs interleaved`, [
      ['in-process: controller.create(fromSnapshot) + exec (median)', ms(median(samples.snapshot))],
      ['in-process: controller.create + push 200 MB + exec (median)', ms(median(samples.recreate))],
      ['ratio', ratioLine(median(samples.snapshot), median(samples.recreate), 0.3)],
    ]);
  } finally {
    await removeAll(controller);
    await state.dispose();
    await fs.rm(workspace, { recursive: true, force: true });
  }
}

export async function gateBenchmarks(wanted: (figure: GateFigure) => boolean): Promise<void> {
  if (wanted('fork')) await forkFigure();
  if (wanted('gate-overhead')) await gateOverhead();
  if (wanted('rollback')) await rollbackFigure();
}
