import * as vscode from 'vscode';
import type { Task, TaskState } from '../../core/tasks/model';
import type { TaskBoard } from '../taskBoard';
import { groupTasks, taskContextValue, taskDescription, taskGroupLabel, taskIcon, taskLabel, taskTooltipLines } from '../taskPresentation';

export interface TaskGroupNode {
  kind: 'taskGroup';
  state: TaskState;
  count: number;
}

export interface TaskNode {
  kind: 'task';
  task: Task;
}

export type TaskTreeNode = TaskGroupNode | TaskNode;

/** The state is part of the id: a task moving to another group is another item there. */
function taskItemId(task: Task): string {
  return `task:${task.id}:${task.state}`;
}

export function isTaskNode(value: unknown): value is TaskNode {
  return typeof value === 'object' && value !== null && (value as TaskNode).kind === 'task' && typeof (value as TaskNode).task === 'object';
}

/**
 * The Tasks view: one group per state (Running, Queued, Assigned, Failed, Succeeded, Cancelled),
 * empty ones hidden; empty altogether (so a welcome view shows) when there is no task.
 */
export class TaskTreeProvider implements vscode.TreeDataProvider<TaskTreeNode>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<TaskTreeNode | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  private readonly subscription: vscode.Disposable;
  /**
   * The nodes handed out, by item id. The workbench knows an element by identity: the same node
   * for the same item lets a refresh of one item (a running task's time) leave the rest of the
   * tree, and the element a context menu was opened on, alone.
   */
  private readonly nodes = new Map<string, TaskTreeNode>();

  constructor(private readonly board: TaskBoard) {
    this.subscription = board.onDidChange(({ timeOnly }) => {
      if (!timeOnly) {
        this.changed.fire(undefined);
        return;
      }
      for (const task of board.tasks) {
        if (task.state !== 'assigned' && task.state !== 'running') continue;
        const node = this.nodes.get(taskItemId(task));
        if (node?.kind === 'task') {
          node.task = task;
          this.changed.fire(node);
        }
      }
    });
  }

  getChildren(node?: TaskTreeNode): TaskTreeNode[] {
    this.board.start();
    const groups = groupTasks(this.board.tasks);
    if (!node) {
      const shown = groups.map((group) => this.node(`taskGroup:${group.state}`, { kind: 'taskGroup', state: group.state, count: group.tasks.length }));
      this.forgetAllBut(groups.flatMap((group) => [`taskGroup:${group.state}`, ...group.tasks.map(taskItemId)]));
      return shown;
    }
    if (node.kind === 'taskGroup') {
      return (groups.find((group) => group.state === node.state)?.tasks ?? []).map((task) => this.node(taskItemId(task), { kind: 'task', task }));
    }
    return [];
  }

  /** The node of that item id, kept and brought up to date, or `fresh` the first time. */
  private node(id: string, fresh: TaskTreeNode): TaskTreeNode {
    const known = this.nodes.get(id);
    if (!known) {
      this.nodes.set(id, fresh);
      return fresh;
    }
    Object.assign(known, fresh);
    return known;
  }

  private forgetAllBut(ids: string[]): void {
    const keep = new Set(ids);
    for (const id of this.nodes.keys()) if (!keep.has(id)) this.nodes.delete(id);
  }

  getTreeItem(node: TaskTreeNode): vscode.TreeItem {
    if (node.kind === 'taskGroup') {
      const item = new vscode.TreeItem(taskGroupLabel(node.state), vscode.TreeItemCollapsibleState.Expanded);
      item.id = `taskGroup:${node.state}`;
      item.description = `${node.count}`;
      item.contextValue = `taskGroup+${node.state}`;
      return item;
    }
    const { task } = node;
    const item = new vscode.TreeItem(taskLabel(task), vscode.TreeItemCollapsibleState.None);
    item.id = taskItemId(task);
    item.description = taskDescription(task);
    item.contextValue = taskContextValue(task);
    const icon = taskIcon(task);
    item.iconPath = new vscode.ThemeIcon(icon.id, icon.color ? new vscode.ThemeColor(icon.color) : undefined);
    item.tooltip = new vscode.MarkdownString(taskTooltipLines(task).join('\n'));
    item.accessibilityInformation = { label: `Task ${taskLabel(task)}, ${task.state}` };
    return item;
  }

  getParent(node: TaskTreeNode): TaskTreeNode | undefined {
    if (node.kind === 'taskGroup') return undefined;
    return this.nodes.get(`taskGroup:${node.task.state}`);
  }

  dispose(): void {
    this.subscription.dispose();
    this.changed.dispose();
  }
}

/**
 * A line above the tasks while no scheduler runs and some wait for it (the welcome view, which
 * says so with a button, shows only when there is no task at all).
 */
export function showSchedulerState(view: vscode.TreeView<TaskTreeNode>, board: TaskBoard): vscode.Disposable {
  return board.onDidChange(() => {
    const waiting = board.tasks.some((task) => task.state === 'queued');
    view.message = !board.schedulerRunning && waiting ? 'The scheduler is not running, so queued tasks wait: run "Start Scheduler".' : undefined;
  });
}
