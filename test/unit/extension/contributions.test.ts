import * as assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import * as path from 'node:path';
import { COMMAND_IDS, DESKTOP_VIEW_TYPE, TASKS_VIEW_ID, TREE_VIEW_ID, VIEW_CONTAINER_ID } from '../../../src/extension/commandIds';
import { contextValueOf } from '../../../src/extension/presentation';
import { taskContextValue } from '../../../src/extension/taskPresentation';
import type { Task, TaskState } from '../../../src/core/tasks/model';
import { FORWARD_CONTEXT_VALUE } from '../../../src/extension/sshModel';
import type { SandboxRecord, SandboxState } from '../../../src/core/model';

const root = path.resolve(__dirname, '../../../..');
const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
const contributes = pkg.contributes;
const registered: string[] = Object.values(COMMAND_IDS);
const contributed: string[] = contributes.commands.map((command: { command: string }) => command.command);
type MenuItem = { command: string; when?: string; group?: string };
const menus = contributes.menus as Record<string, MenuItem[]>;

function record(state: SandboxState, desktop?: string): SandboxRecord {
  return {
    id: 'abc123',
    name: 'demo',
    agentId: 'default',
    provider: 'docker',
    profile: { image: 'img', cpus: 1, memory: 1024 ** 3, pids: 1024, sudo: true, desktop },
    state,
    createdAt: '2026-01-01T00:00:00Z',
    updatedAt: '2026-01-01T00:00:00Z',
    workdir: '/home/agent/workspace',
    user: 'agent',
    ports: {},
  };
}

/** Evaluates the `viewItem =~ /re/` parts of a when clause (joined by && and ||, with parentheses) for one contextValue. */
function viewItemMatches(when: string, contextValue: string): boolean {
  const expression = when
    .replace(/view == [\w.]+/g, 'true')
    .replace(/viewItem =~ \/((?:\\\/|[^/])+)\//g, (_, source: string) => String(new RegExp(source).test(contextValue)));
  assert.match(expression, /^[\s()truefals&|]+$/, `unexpected when clause: ${when}`);
  return Function(`return (${expression});`)() as boolean;
}

function shownForItem(contextValue: string, group: (g: string) => boolean): string[] {
  return menus['view/item/context']!.filter((item) => group(item.group ?? '') && viewItemMatches(item.when ?? 'true', contextValue)).map(
    (item) => item.command,
  );
}

function shownFor(state: SandboxState, group: (g: string) => boolean): string[] {
  return shownForItem(contextValueOf(record(state)), group);
}

function shownForDesktop(state: SandboxState, group: (g: string) => boolean): string[] {
  return shownForItem(contextValueOf(record(state, '1280x800')), group);
}

describe('package.json contributions', () => {
  it('contribute exactly the registered command ids, each under the Sandboxes category', () => {
    assert.deepEqual([...contributed].sort(), [...registered].sort());
    assert.equal(new Set(contributed).size, contributed.length, 'a command is contributed twice');
    for (const command of contributes.commands) assert.equal(command.category, 'Sandboxes', command.command);
  });

  it('name only known commands in menus and welcome views', () => {
    for (const [menu, items] of Object.entries(menus)) {
      for (const item of items) assert.ok(registered.includes(item.command), `${menu} names ${item.command}`);
    }
    for (const welcome of contributes.viewsWelcome) {
      for (const [, id] of welcome.contents.matchAll(/\(command:([\w.]+)\)/g)) assert.ok(registered.includes(id), `welcome view links ${id}`);
    }
  });

  it('put the views in their own activity-bar container, Sandboxes above Tasks, with an icon that ships', () => {
    assert.deepEqual(
      contributes.viewsContainers.activitybar.map((c: { id: string }) => c.id),
      [VIEW_CONTAINER_ID],
    );
    assert.deepEqual(
      contributes.views[VIEW_CONTAINER_ID].map((v: { id: string }) => v.id),
      [TREE_VIEW_ID, TASKS_VIEW_ID],
    );
    assert.ok(existsSync(path.join(root, contributes.viewsContainers.activitybar[0].icon)));
    for (const welcome of contributes.viewsWelcome) assert.ok([TREE_VIEW_ID, TASKS_VIEW_ID].includes(welcome.view), welcome.view);
    assert.equal(contributes.viewsWelcome.filter((w: { view: string }) => w.view === TREE_VIEW_ID).length, 2);
  });

  it('welcome the Tasks view with Start Scheduler while no scheduler runs, and with Add Task once one does', () => {
    const welcomes = contributes.viewsWelcome.filter((w: { view: string }) => w.view === TASKS_VIEW_ID) as { contents: string; when: string }[];
    const noScheduler = welcomes.find((w) => w.when === 'sandboxes.tasksLoaded && !sandboxes.schedulerRunning');
    const noTask = welcomes.find((w) => w.when === 'sandboxes.tasksLoaded && sandboxes.schedulerRunning');
    assert.match(noScheduler?.contents ?? '', /^The scheduler is not running[\s\S]*\(command:sandboxes\.startScheduler\)/);
    assert.match(noTask?.contents ?? '', /^No task yet[\s\S]*\(command:sandboxes\.addTask\)/);
    assert.equal(welcomes.length, 2);
  });

  it('offer on each task only the actions its state allows', () => {
    const at = '2026-01-01T00:00:00Z';
    const make = (state: TaskState, started: boolean): Task => ({
      id: 't1',
      state,
      command: 'true',
      priority: 'normal',
      profile: 'default',
      maxAttempts: 2,
      createdAt: at,
      updatedAt: at,
      attempts: started ? [{ number: 1, sandboxId: 's', assignedAt: at, startedAt: at }] : [],
    });
    const inline = (g: string) => g.startsWith('inline');
    const all = () => true;
    assert.deepEqual(shownForItem(taskContextValue(make('queued', false)), inline), [COMMAND_IDS.cancelTask]);
    assert.deepEqual(shownForItem(taskContextValue(make('running', true)), inline), [COMMAND_IDS.showTaskOutput, COMMAND_IDS.cancelTask]);
    assert.deepEqual(shownForItem(taskContextValue(make('failed', true)), inline), [COMMAND_IDS.showTaskOutput, COMMAND_IDS.retryTask]);
    assert.deepEqual(shownForItem(taskContextValue(make('succeeded', true)), inline), [COMMAND_IDS.showTaskOutput]);
    assert.deepEqual(shownForItem(taskContextValue(make('cancelled', false)), inline), [COMMAND_IDS.retryTask]);
    assert.deepEqual(
      shownForItem(taskContextValue(make('cancelled', false)), (g) => !inline(g)),
      [COMMAND_IDS.retryTask],
    );
    assert.deepEqual(
      shownForItem(taskContextValue(make('running', true)), (g) => !inline(g)),
      [COMMAND_IDS.showTaskOutput, COMMAND_IDS.revealTaskSandbox, COMMAND_IDS.cancelTask],
    );
    // No sandbox action on a task, and no task action on a sandbox.
    for (const state of ['queued', 'running', 'succeeded', 'failed', 'cancelled'] as const) {
      for (const command of shownForItem(taskContextValue(make(state, true)), all)) assert.match(command, /Task|revealTaskSandbox/);
    }
    for (const state of ['creating', 'running', 'stopped', 'error', 'lost'] as const) {
      for (const command of shownFor(state, all)) assert.doesNotMatch(command, /Task/);
    }
  });

  it('show each item only the actions that apply to its state', () => {
    const inline = (g: string) => g.startsWith('inline');
    assert.deepEqual(shownFor('running', inline), [COMMAND_IDS.attachVsCode, COMMAND_IDS.openTerminal, COMMAND_IDS.stop]);
    assert.deepEqual(shownFor('stopped', inline), [COMMAND_IDS.start]);
    assert.deepEqual(shownFor('lost', inline), []);
    const context = (g: string) => !g.startsWith('inline');
    assert.ok(shownFor('running', context).includes(COMMAND_IDS.syncWorkspace));
    assert.ok(!shownFor('stopped', context).includes(COMMAND_IDS.stop));
    assert.ok(!shownFor('stopped', context).includes(COMMAND_IDS.openTerminal));
    // Everything that needs the sandbox's sshd is offered only while it runs.
    const overSsh = [COMMAND_IDS.attachVsCode, COMMAND_IDS.openSshTerminal, COMMAND_IDS.copySshCommand, COMMAND_IDS.forwardPort, COMMAND_IDS.openJupyter];
    for (const command of overSsh) assert.ok(shownFor('running', context).includes(command), command);
    for (const state of ['creating', 'stopped', 'error', 'lost'] as const) {
      for (const command of overSsh) assert.ok(!shownFor(state, context).includes(command), `${command} on a ${state} sandbox`);
    }
    for (const state of ['creating', 'error', 'lost'] as const) {
      assert.deepEqual(shownFor(state, context).sort(), [COMMAND_IDS.copyId, COMMAND_IDS.delete, COMMAND_IDS.showLogs].sort(), state);
    }
  });

  it('offer Open Desktop and Take Screenshot on running desktop sandboxes only', () => {
    const inline = (g: string) => g.startsWith('inline');
    const context = (g: string) => !g.startsWith('inline');
    assert.deepEqual(shownForDesktop('running', inline), [COMMAND_IDS.attachVsCode, COMMAND_IDS.openDesktop, COMMAND_IDS.openTerminal, COMMAND_IDS.stop]);
    assert.deepEqual(shownForDesktop('stopped', inline), [COMMAND_IDS.start]);
    const desktopOnly = [COMMAND_IDS.openDesktop, COMMAND_IDS.takeScreenshot];
    for (const command of desktopOnly) {
      assert.ok(shownForDesktop('running', context).includes(command), command);
      assert.ok(!shownFor('running', () => true).includes(command), `${command} on a sandbox without a desktop`);
      for (const state of ['creating', 'stopped', 'error', 'lost'] as const) {
        assert.ok(!shownForDesktop(state, () => true).includes(command), `${command} on a ${state} desktop sandbox`);
      }
    }
    // A desktop sandbox keeps every other action of its state.
    for (const state of ['creating', 'running', 'stopped', 'error', 'lost'] as const) {
      const others = shownForDesktop(state, () => true).filter((command) => !desktopOnly.includes(command as (typeof desktopOnly)[number]));
      assert.deepEqual(
        others,
        shownFor(state, () => true),
        state,
      );
    }
  });

  it("put the desktop panel's own actions in its title bar, and Toggle View Only in the palette only while one is in front", () => {
    const desktopInFront = `activeWebviewPanelId == '${DESKTOP_VIEW_TYPE}'`;
    assert.deepEqual(
      menus['editor/title']!.map((item) => [item.command, item.when]),
      [
        [COMMAND_IDS.toggleViewOnly, desktopInFront],
        [COMMAND_IDS.takeScreenshot, desktopInFront],
      ],
    );
    assert.deepEqual(menus.commandPalette, [{ command: COMMAND_IDS.toggleViewOnly, when: desktopInFront }]);
  });

  it('give a forwarded port only its own two actions, inline and in its menu', () => {
    const inline = (g: string) => g.startsWith('inline');
    const context = (g: string) => !g.startsWith('inline');
    const own = [COMMAND_IDS.openForwardedPort, COMMAND_IDS.stopForwarding];
    assert.deepEqual(shownForItem(FORWARD_CONTEXT_VALUE, inline), own);
    assert.deepEqual(shownForItem(FORWARD_CONTEXT_VALUE, context), own);
    for (const state of ['creating', 'running', 'stopped', 'error', 'lost'] as const) {
      for (const command of own) assert.ok(!shownFor(state, () => true).includes(command), `${command} on a ${state} sandbox`);
    }
  });

  it('keep destructive actions alone in their own, last group', () => {
    const groups = menus['view/item/context']!.filter((item) => !item.group?.startsWith('inline'));
    const destructive = groups.filter((item) => item.group?.startsWith('9_destructive'));
    assert.deepEqual(
      destructive.map((item) => item.command),
      [COMMAND_IDS.delete],
    );
    const names = groups.map((item) => item.group!.split('@')[0]!);
    assert.equal([...names].sort().at(-1), '9_destructive');
  });

  it('register commands only through the id list (no stray string ids in src/extension)', () => {
    const dir = path.join(root, 'src/extension');
    const files = readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((file) => file.endsWith('.ts'));
    for (const file of files) {
      const text = readFileSync(path.join(dir, file), 'utf8');
      if (file === 'commandIds.ts') continue;
      for (const [literal] of text.matchAll(/'sandboxes\.[A-Za-z]+'/g)) {
        assert.ok(!registered.includes(literal.slice(1, -1)), `${file} spells out ${literal}; use COMMAND_IDS`);
      }
    }
  });

  it('activate lazily: no activation event beyond what the contributions imply, and restoring a desktop panel', () => {
    // Webview panels have no contribution point: restoring one after a reload needs its own event.
    assert.deepEqual(pkg.activationEvents, [`onWebviewPanel:${DESKTOP_VIEW_TYPE}`]);
    assert.equal(pkg.main, './dist/extension.js');
  });
});
