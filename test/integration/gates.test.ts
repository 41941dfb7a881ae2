import * as assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { GateResultEvent } from '../../src/core/events/types';
import { readLessons } from '../../src/core/gates/lessons';
import { readGateResult } from '../../src/core/gates/results';
import { TaskClient } from '../../src/core/tasks/client';
import { Scheduler } from '../../src/core/tasks/scheduler';
import { gateFindings } from '../../src/extension/gates/gateFindings';
import { TestEnvironment, ensureImage } from './helpers';
import { fixtureWorkspace, removeSnapshots, treeHash, untilDecided, writeTasksConfig } from './gatesFixture';

/**
 * Gated tasks on the real engine: the agent's change is judged in sandboxes of its own (L0 and
 * the base's run for L1), a person decides where L2 says so, and only a change that passed
 * reaches the workspace, merged with what the user edited meanwhile.
 */
describe('gates: a task reaches the workspace only through its gates', function () {
  this.timeout(600_000);
  const env = new TestEnvironment();
  const log: string[] = [];
  let scheduler: Scheduler;
  let client: TaskClient;

  before(async function () {
    await ensureImage();
    writeTasksConfig(env.stateDir);
    client = new TaskClient(env.stateDir);
    scheduler = new Scheduler({ controller: env.controller, stateRoot: env.stateDir, log: (line) => log.push(line), tickMs: 200, pollMs: 200 });
    await scheduler.start();
  });
  after(async () => {
    await scheduler?.stop();
    for (const record of await env.controller.list()) await env.controller.delete(record.id).catch(() => undefined);
    await removeSnapshots(env.controller);
    await env.dispose();
  });

  const add = async (workspace: string, command: string, extra: Record<string, unknown> = {}) =>
    (await client.add({ command, workspace, attempts: 1, agentId: 'test-agent', ...extra })).task;

  it('a task that breaks a test fails at L0 (and shows as L1 regression): diagnostics on the right line, workspace unchanged, failed state kept as a snapshot that starts with keys of its own, the kept sandbox reset, a lesson written', async function () {
    const workspace = await fixtureWorkspace();
    const before = await treeHash(workspace);
    const task = await add(workspace, "sed -i 's|a / 2|a / 3|' py/calc.py", { keep: true, title: 'halve differently' });
    assert.equal(task.gates, true, 'gates are on by default where the workspace has a gates file');
    const done = await untilDecided(client, task.id, log);
    assert.equal(done.state, 'failed', done.reason);
    assert.equal(done.gate?.phase, 'failed');
    assert.equal(done.gate?.level, 'L0');
    assert.equal(await treeHash(workspace), before, 'the workspace is byte for byte as it was');

    const result = (await readGateResult(env.stateDir, task.id, 1))!;
    const halve = result.l0!.tests.find((test) => test.name === 'test_halve')!;
    assert.equal(halve.status, 'failed');
    assert.ok(
      result.l1.some((finding) => finding.kind === 'regression' && finding.testId === halve.id),
      JSON.stringify(result.l1),
    );
    const onFile = gateFindings(result).find((finding) => finding.code === halve.id && finding.source === 'Sandboxes L0')!;
    assert.equal(onFile.file, path.join(workspace, 'py', 'test_calc.py'));
    const lines = (await fs.readFile(onFile.file, 'utf8')).split('\n');
    assert.match(lines[onFile.line]!, /assert halve\(8\) == 4/);

    const lessons = (await readLessons(env.stateDir)).filter((lesson) => lesson.taskId === task.id);
    assert.equal(lessons.length, 1);
    assert.equal(lessons[0]!.level, 'L0');
    assert.ok(lessons[0]!.failingTests.some((test) => test.id === halve.id));
    assert.equal(lessons[0]!.agentId, 'test-agent');

    // The result is told on the bus, so it reaches events.jsonl and the collector: figures, no test output.
    env.controller.eventLog.flush();
    const told = (await env.controller.eventLog.read()).events.filter(
      (event): event is GateResultEvent => event.type === 'gate.result' && event.taskId === task.id,
    );
    assert.equal(told.length, 1, JSON.stringify(told));
    assert.equal(told[0]!.sandboxId, done.attempts[0]!.sandboxId);
    assert.deepEqual([told[0]!.level, told[0]!.outcome, told[0]!.passed], ['L0', 'failed', false]);
    assert.match(told[0]!.summary, /^1 file \(\+1 -1\); \d+ tests, [1-9]\d* failed; [1-9]\d* regressions?$/);
    assert.ok(told[0]!.durationMs > 0);

    // The failed state opens as a sandbox, with a host key of its own.
    const snapshot = lessons[0]!.snapshot!;
    assert.ok((await env.controller.listSnapshots()).some((entry) => entry.name === snapshot));
    const copy = await env.controller.create({ fromSnapshot: snapshot, agentId: 'debug' });
    const shown = await env.controller.exec(copy.id, { command: ['cat', 'py/calc.py'] });
    assert.match(shown.stdout, /a \/ 3/);
    // The kept sandbox itself is back at the task's starting point, under its name, with keys of its own.
    const kept = await env.controller.resolve(done.attempts[0]!.sandboxName!);
    assert.notEqual(kept.id, done.attempts[0]!.sandboxId);
    assert.match((await env.controller.exec(kept.id, { command: ['cat', 'py/calc.py'] })).stdout, /a \/ 2/);
    assert.notEqual(copy.ssh?.hostKey, kept.ssh?.hostKey);
    await env.controller.delete(copy.id);
    await env.controller.delete(kept.id);
  });

  it('an agent that forges its report, edits the gates file, ignores the file it broke and replaces the test runner in its sandbox still fails: the gates run elsewhere, on what would be applied', async function () {
    const workspace = await fixtureWorkspace();
    const before = await treeHash(workspace);
    const forge = [
      "sed -i 's|a / 2|a / 3|' py/calc.py",
      'mkdir -p .report',
      `printf '<testsuite name="pytest" tests="3"><testcase classname="test_calc" name="test_halve"/></testsuite>' > .report/pytest.xml`,
      `printf '{"l0": []}' > .sandboxes/gates.json`,
      // Its own ignore rules would keep the edited file out of a push: the checks must still see it.
      'echo py/calc.py >> .gitignore',
      // The runners of this sandbox now pass whatever they are given.
      `echo 'raise SystemExit(0)' | sudo -n tee /usr/lib/python3/dist-packages/pytest/__main__.py >/dev/null`,
      'sudo -n ln -sf /bin/true /usr/bin/node',
      'python3 -m pytest py && node js/strings.test.js',
    ].join(' && ');
    const task = await add(workspace, forge);
    const done = await untilDecided(client, task.id, log);
    assert.equal(done.state, 'failed', done.reason);
    assert.equal(done.gate?.level, 'L0', `${done.reason} / ${done.gate?.reason}`);
    assert.match(done.gate!.reason!, /test_halve/);
    assert.equal(await treeHash(workspace), before);
  });

  it('a change holding a link out of the workspace, or a tar of the sandbox that sends ../ and absolute paths, is refused and nothing is written', async function () {
    const workspace = await fixtureWorkspace();
    const before = await treeHash(workspace);
    const linkTask = await add(workspace, 'ln -s /etc/passwd py/leak && ln -s ../../../outside js/up && echo "# more" >> README.md');
    const linked = await untilDecided(client, linkTask.id, log);
    assert.equal(linked.state, 'failed');
    assert.match(linked.gate!.reason!, /leading out of the workspace/);
    assert.equal(await treeHash(workspace), before);

    // The sandbox's own tar answers the pull with a crafted archive.
    const craft = [
      'python3 - <<EOF',
      'import io, tarfile',
      "with tarfile.open('/tmp/evil.tar', 'w') as tar:",
      "    for name in ['../escaped.txt', '/tmp/absolute.txt', 'ok.txt']:",
      "        data = b'owned'",
      '        info = tarfile.TarInfo(name); info.size = len(data)',
      '        tar.addfile(info, io.BytesIO(data))',
      'EOF',
      `printf '#!/bin/sh\\ncat /tmp/evil.tar\\n' | sudo -n tee /usr/local/bin/tar >/dev/null`,
      'sudo -n chmod 755 /usr/local/bin/tar',
      'echo changed >> README.md',
    ].join('\n');
    const tarTask = await add(workspace, craft);
    const crafted = await untilDecided(client, tarTask.id, log);
    assert.equal(crafted.state, 'failed');
    assert.match(crafted.gate!.reason!, /could not be taken out/);
    assert.equal(await treeHash(workspace), before);
    await assert.rejects(fs.access(path.join(path.dirname(workspace), 'escaped.txt')));
  });

  it('L1: a test disabled while a new one passes is caught; a test that already failed on the base is not called a regression', async function () {
    const workspace = await fixtureWorkspace();
    await fs.writeFile(path.join(workspace, 'py', 'test_known.py'), 'def test_known_broken():\n    assert 1 == 2\n');
    const before = await treeHash(workspace);
    const command = [
      'sed -i \'s|^def test_mul|import pytest\\n@pytest.mark.skip(reason="later")\\ndef test_mul|\' py/test_calc.py',
      "printf '\\n\\ndef test_new():\\n    assert add(1, 1) == 2\\n' >> py/test_calc.py",
    ].join(' && ');
    const task = await add(workspace, command);
    const done = await untilDecided(client, task.id, log);
    assert.equal(done.state, 'failed', done.reason);
    assert.equal(done.gate?.level, 'L1', done.gate?.reason);
    const result = (await readGateResult(env.stateDir, task.id, 1))!;
    assert.ok(
      result.l1.some((finding) => finding.kind === 'disabled' && /test_mul/.test(finding.testId ?? '')),
      JSON.stringify(result.l1),
    );
    assert.ok(!result.l1.some((finding) => /test_known_broken/.test(finding.testId ?? '')), 'a failure the base had is no regression');
    assert.equal(result.l0!.tests.find((test) => test.name === 'test_new')?.status, 'passed');
    assert.equal(await treeHash(workspace), before);
  });

  it("a clean change is applied and keeps the user's edit of another line; an edit of the same lines is a conflict that names the file and writes nothing", async function () {
    const workspace = await fixtureWorkspace();
    const calc = path.join(workspace, 'py', 'calc.py');
    const task = await add(workspace, "sleep 4 && sed -i 's|return a \\* b|return b * a|' py/calc.py && echo '// checked' >> js/strings.js");
    await untilRunning(client, task.id);
    await fs.writeFile(calc, (await fs.readFile(calc, 'utf8')).replace('return a + b', 'return b + a'));
    const done = await untilDecided(client, task.id, log);
    assert.equal(done.state, 'succeeded', `${done.reason} ${done.gate?.reason}`);
    assert.equal(done.gate?.phase, 'applied');
    const merged = await fs.readFile(calc, 'utf8');
    assert.match(merged, /return b \+ a/, "the user's edit is kept");
    assert.match(merged, /return b \* a/, "the agent's edit is applied");
    assert.match(await fs.readFile(path.join(workspace, 'js', 'strings.js'), 'utf8'), /\/\/ checked/);

    const clash = await add(workspace, "sleep 4 && sed -i 's|return a / 2|return a * 0.5|' py/calc.py");
    await untilRunning(client, clash.id);
    await fs.writeFile(calc, (await fs.readFile(calc, 'utf8')).replace('return a / 2', 'return a / 2.0'));
    const edited = await treeHash(workspace);
    const conflicted = await untilDecided(client, clash.id, log);
    assert.equal(conflicted.state, 'failed');
    assert.equal(conflicted.gate?.phase, 'conflict');
    assert.match(conflicted.gate!.reason!, /py\/calc\.py/);
    assert.equal(await treeHash(workspace), edited, 'nothing was written');
  });

  it('L2: a change to a path that needs a person waits; approve applies it, reject rolls it back and keeps the note', async function () {
    const workspace = await fixtureWorkspace();
    const approved = await add(workspace, 'mkdir -p secrets && echo rotated > secrets/key.txt');
    const waiting = await untilDecided(client, approved.id, log);
    assert.equal(waiting.gate?.phase, 'review', waiting.gate?.reason);
    await assert.rejects(fs.access(path.join(workspace, 'secrets', 'key.txt')));
    client.review(approved.id, 'approve');
    const applied = await untilDecided(client, approved.id, log);
    assert.equal(applied.state, 'succeeded');
    assert.equal(await fs.readFile(path.join(workspace, 'secrets', 'key.txt'), 'utf8'), 'rotated\n');

    const before = await treeHash(workspace);
    const rejected = await add(workspace, 'echo again > secrets/key.txt');
    assert.equal((await untilDecided(client, rejected.id, log)).gate?.phase, 'review');
    client.review(rejected.id, 'reject', 'keys are rotated by hand');
    const rolledBack = await untilDecided(client, rejected.id, log);
    assert.equal(rolledBack.state, 'failed');
    assert.equal(rolledBack.gate?.phase, 'rejected');
    assert.equal(await treeHash(workspace), before);
    const lesson = (await readLessons(env.stateDir)).find((entry) => entry.taskId === rejected.id)!;
    assert.equal(lesson.level, 'L2');
    assert.equal(lesson.note, 'keys are rotated by hand');
  });

  it('best of N: of two tasks of a group whose changes both pass, the first is applied and the other is not', async function () {
    const workspace = await fixtureWorkspace();
    const command = (file: string) => `echo '# ${file}' >> ${file}`;
    const [first, second] = await Promise.all([
      add(workspace, command('README.md'), { group: 'race', title: 'first' }),
      add(workspace, command('py/calc.py'), { group: 'race', title: 'second' }),
    ]);
    const [one, two] = await Promise.all([untilDecided(client, first!.id, log), untilDecided(client, second!.id, log)]);
    const winners = [one, two].filter((task) => task.gate?.phase === 'applied');
    assert.equal(winners.length, 1, [one, two].map((task) => `${task.id}: ${task.state} ${task.gate?.phase} ${task.reason}`).join('; '));
    const loser = [one, two].find((task) => task !== winners[0])!;
    assert.ok(loser.state === 'cancelled' || loser.gate?.phase === 'rejected', `${loser.state} ${loser.gate?.phase}`);
    const readme = await fs.readFile(path.join(workspace, 'README.md'), 'utf8');
    const calc = await fs.readFile(path.join(workspace, 'py', 'calc.py'), 'utf8');
    assert.equal(readme.includes('# README.md') ? 1 : 0, winners[0] === one ? 1 : 0);
    assert.equal(calc.includes('# py/calc.py') ? 1 : 0, winners[0] === two ? 1 : 0);
  });

  it('bad input: a malformed gates file names the field, a missing test command and a report never written say so; the task fails at L0 and nothing is applied', async function () {
    const cases: Array<{ gates: unknown; expect: RegExp }> = [
      { gates: { l0: [{ name: 'py', command: 'true', report: { format: 'xml', path: 'r.xml' } }] }, expect: /l0\[0\]\.report\.format/ },
      { gates: { l0: [{ name: 'py', command: 'no-such-runner --all', report: { format: 'junit', path: 'r.xml' } }] }, expect: /not found/ },
      { gates: { l0: [{ name: 'py', command: 'true', report: { format: 'junit', path: 'never.xml' } }] }, expect: /wrote no report at never\.xml/ },
    ];
    const runs = await Promise.all(
      cases.map(async ({ gates }) => {
        const workspace = await fixtureWorkspace();
        await fs.writeFile(path.join(workspace, '.sandboxes', 'gates.json'), JSON.stringify(gates));
        const before = await treeHash(workspace);
        const task = await add(workspace, 'echo changed >> README.md');
        return { workspace, before, done: await untilDecided(client, task.id, log) };
      }),
    );
    for (const [index, { workspace, before, done }] of runs.entries()) {
      assert.equal(done.state, 'failed', `case ${index}: ${done.reason}`);
      assert.equal(done.gate?.level, 'L0', `case ${index}`);
      assert.match(done.gate!.reason!, cases[index]!.expect);
      assert.equal(await treeHash(workspace), before, `case ${index}: nothing applied`);
    }
  });
});

function untilRunning(client: TaskClient, id: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const deadline = Date.now() + 120_000;
    const look = () => {
      const task = client.resolve(id);
      if (task.state === 'running') return resolve();
      if (Date.now() > deadline || ['succeeded', 'failed', 'cancelled'].includes(task.state))
        return reject(new Error(`task ${id} is ${task.state}, not running`));
      setTimeout(look, 100);
    };
    look();
  });
}
