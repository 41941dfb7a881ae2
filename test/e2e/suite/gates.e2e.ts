import * as assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import * as vscode from 'vscode';
import type { DaemonStatus } from '../../../src/core/tasks/daemonLock';
import type { Task } from '../../../src/core/tasks/model';
import type { SandboxesApi } from '../../../src/extension/extension';
import { fixtureWorkspace, removeSnapshots, writeTasksConfig } from '../../integration/gatesFixture';
import { note, suiteSettings } from './index';

const run = promisify(execFile);
const EXTENSION_ID = 'agent-sandboxes.agent-sandboxes';
const settings = suiteSettings();
/** A gated task makes three sandboxes in turn (the agent's, the change's checks, the base's): minutes on a busy machine. */
const DECISION_TIMEOUT_MS = 4 * 60_000;
/** The views follow the queue through a watch and a 2 s poll: this bound only ends a test whose update never comes. */
const VIEW_TIMEOUT_MS = 20_000;
/** `assert halve(8) == 4` in the fixture's py/test_calc.py, 0-based as VS Code counts. */
const HALVE_ASSERT_LINE = 12;

async function cli(...args: string[]): Promise<string> {
  const { stdout } = await run(process.execPath, [path.join(settings.repoRoot, 'dist/cli.js'), ...args], {
    env: { ...process.env, AGENT_SANDBOXES_HOME: settings.stateDir },
  });
  return stdout;
}

/** Resolves with what `probe` returns once it is defined, polling; fails after `ms` with `describe()` in the message. */
async function until<T>(probe: () => T | undefined, ms: number, what: string, describe: () => string = () => ''): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`Timed out after ${ms} ms waiting for ${what}. ${describe()}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** Every test item of a controller, depth first. */
function allItems(collection: vscode.TestItemCollection): vscode.TestItem[] {
  const items: vscode.TestItem[] = [];
  collection.forEach((item) => items.push(item, ...allItems(item.children)));
  return items;
}

/**
 * Gated tasks seen from VS Code, with the daemon Start Scheduler starts in the run's state dir:
 * a change that breaks a test becomes diagnostics on the test's line and a run in the Testing
 * view, and a change that needs a person opens in the multi-file diff and reaches the workspace
 * once approved.
 */
describe('Quality gates in the VS Code extension host', function () {
  this.timeout(DECISION_TIMEOUT_MS + 2 * VIEW_TIMEOUT_MS);
  let api: SandboxesApi;
  const workspaces: string[] = [];

  /** The task as the Tasks view last read it, once `check` holds for it. */
  const taskWhere = (id: string, check: (task: Task) => boolean, ms: number, what: string) =>
    until(
      () => {
        const task = api.tasks.find(id);
        return task && check(task) ? task : undefined;
      },
      ms,
      `task ${id} ${what}`,
      () => `It is ${JSON.stringify(api.tasks.find(id) ?? 'not in the view')}`,
    );
  const decided = (id: string) =>
    taskWhere(id, (task) => ['succeeded', 'failed', 'cancelled'].includes(task.state) || task.gate?.phase === 'review', DECISION_TIMEOUT_MS, 'to be decided');

  const addTask = async (command: string, title: string): Promise<{ task: Task; workspace: string }> => {
    const workspace = await fixtureWorkspace();
    workspaces.push(workspace);
    const task = await vscode.commands.executeCommand<Task>('sandboxes.addTask', command, { priority: 'normal', workspace, title });
    assert.ok(task, 'Add Task queued nothing');
    assert.equal(task.gates, true, 'gates are on by default where the workspace has a gates file');
    return { task, workspace };
  };

  before(async () => {
    const extension = vscode.extensions.getExtension<SandboxesApi>(EXTENSION_ID);
    assert.ok(extension, `${EXTENSION_ID} is not loaded`);
    api = await extension.activate();
    writeTasksConfig(settings.stateDir);
    const status = await vscode.commands.executeCommand<DaemonStatus | undefined>('sandboxes.startScheduler');
    assert.equal(status?.running, true, 'Start Scheduler started no daemon');
    await until(() => api.tasks.schedulerRunning || undefined, VIEW_TIMEOUT_MS, 'the Tasks view to see the daemon');
  });

  after(async function () {
    this.timeout(120_000);
    await cli('daemon', 'stop').catch((error: Error) => note(`      could not stop the daemon: ${error.message}`));
    const controller = api?.cockpit.controller;
    if (controller) {
      for (const record of await controller.list().catch(() => [])) await controller.delete(record.id).catch(() => undefined);
      await removeSnapshots(controller);
    }
    for (const workspace of workspaces) await fs.rm(workspace, { recursive: true, force: true });
  });

  it('a task that breaks a test fails at L0: an error on the test line with its output, an L1 regression, and a test run in the Testing view', async () => {
    const started = Date.now();
    const { task, workspace } = await addTask("sed -i 's|a / 2|a / 3|' py/calc.py", 'halve differently');
    const done = await decided(task.id);
    note(`      decided after ${((Date.now() - started) / 1000).toFixed(1)} s`);
    assert.equal(done.state, 'failed', done.reason);
    assert.equal(done.gate?.level, 'L0', done.gate?.reason);

    const testFile = vscode.Uri.file(path.join(workspace, 'py', 'test_calc.py'));
    assert.match((await fs.readFile(testFile.fsPath, 'utf8')).split('\n')[HALVE_ASSERT_LINE]!, /assert halve\(8\) == 4/);
    const diagnostics = await until(
      () => {
        const shown = vscode.languages.getDiagnostics(testFile);
        return shown.some((d) => d.source === 'Sandboxes L0') && shown.some((d) => d.source === 'Sandboxes L1') ? shown : undefined;
      },
      VIEW_TIMEOUT_MS,
      'the gates diagnostics',
      () => JSON.stringify(vscode.languages.getDiagnostics(testFile)),
    );
    const failing = diagnostics.find((d) => d.source === 'Sandboxes L0' && /test_halve/.test(d.message));
    assert.ok(failing, JSON.stringify(diagnostics));
    assert.equal(failing.severity, vscode.DiagnosticSeverity.Error);
    assert.equal(failing.range.start.line, HALVE_ASSERT_LINE);
    assert.ok(failing.relatedInformation?.length, 'the failing test has its output as related information');
    assert.match(failing.relatedInformation[0]!.message, /test_halve/);
    assert.equal(failing.relatedInformation[0]!.location.uri.fsPath, testFile.fsPath);
    const regression = diagnostics.find((d) => d.source === 'Sandboxes L1');
    assert.ok(regression);
    assert.equal(regression.severity, vscode.DiagnosticSeverity.Error);
    assert.equal(regression.code, failing.code, 'the regression is the same test');
    assert.match(regression.message, /test_halve" passed before this change and now fails: assert /);
    assert.equal(regression.range.start.line, HALVE_ASSERT_LINE);

    const items = allItems(api.gates.tests.items);
    const halve = items.find((item) => item.label === 'test_halve');
    assert.ok(halve, `no test_halve among ${items.map((item) => item.label).join(', ')}`);
    assert.equal(halve.id, failing.code);
    assert.equal(halve.uri?.fsPath, testFile.fsPath);
    assert.equal(halve.range?.start.line, HALVE_ASSERT_LINE);
    const published = api.gates.lastRun;
    assert.ok(published, 'no test run was published');
    assert.match(published.name, new RegExp(`task ${task.id}\\b`));
    assert.equal(published.outcomes.get(halve.id), 'failed');
    const others = items.filter((item) => item.children.size === 0 && item !== halve);
    assert.ok(others.length >= 2, 'the other tests, Python and JavaScript, are items too');
    for (const item of others) assert.equal(published.outcomes.get(item.id), 'passed', item.label);
  });

  it('a change to a path that needs a person opens in the multi-file diff, and Approve Change applies it', async () => {
    const { task, workspace } = await addTask('mkdir -p secrets && echo rotated > secrets/key.txt', 'rotate the key');
    const waiting = await decided(task.id);
    assert.equal(waiting.state, 'running', waiting.reason);
    assert.equal(waiting.gate?.phase, 'review', waiting.gate?.reason);
    const key = path.join(workspace, 'secrets', 'key.txt');
    assert.equal(existsSync(key), false, 'nothing reaches the workspace before the review');

    // Not awaited: it waits on its Approve/Reject message, which no one clicks here.
    let reviewFailure: unknown;
    const reviewing = Promise.resolve(vscode.commands.executeCommand<Task | undefined>('sandboxes.reviewChange', task.id)).then(
      (decision) => decision,
      (error: unknown) => {
        reviewFailure = error;
        return undefined;
      },
    );
    const title = 'Change of task rotate the key';
    const diffTab = await until(
      () => (reviewFailure ? undefined : vscode.window.tabGroups.all.flatMap((group) => group.tabs).find((tab) => tab.label.startsWith(title))),
      VIEW_TIMEOUT_MS,
      'the change in the multi-file diff editor',
      () =>
        `Review Change failed with ${String(reviewFailure)}; tabs: ${JSON.stringify(vscode.window.tabGroups.all.flatMap((g) => g.tabs.map((t) => t.label)))}`,
    );
    assert.ok(diffTab.isActive, 'the diff editor has the focus');

    const approved = await vscode.commands.executeCommand<Task>('sandboxes.approveChange', task.id);
    assert.equal(approved.id, task.id);
    const applied = await taskWhere(task.id, (t) => ['succeeded', 'failed', 'cancelled'].includes(t.state), DECISION_TIMEOUT_MS, 'to end');
    assert.equal(applied.state, 'succeeded', applied.reason);
    assert.equal(applied.gate?.phase, 'applied', applied.gate?.reason);
    assert.equal(await fs.readFile(key, 'utf8'), 'rotated\n');

    // Dismissed, the message decides nothing more: Review Change ends without a second decision.
    await vscode.commands.executeCommand('notifications.clearAll');
    const bound = new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error('Review Change did not end once its message was dismissed')), VIEW_TIMEOUT_MS),
    );
    assert.equal(await Promise.race([reviewing, bound]), undefined);
    assert.equal(reviewFailure, undefined);
    await vscode.window.tabGroups.close(diffTab);
  });
});
