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

  constructor(private readonly board: TaskBoard) {
    this.subscription = board.onDidChange(() => this.changed.fire(undefined));
  }

  getChildren(node?: TaskTreeNode): TaskTreeNode[] {
    this.board.start();
    const groups = groupTasks(this.board.tasks);
    if (!node) return groups.map((group) => ({ kind: 'taskGroup', state: group.state, count: group.tasks.length }));
    if (node.kind === 'taskGroup') return (groups.find((group) => group.state === node.state)?.tasks ?? []).map((task) => ({ kind: 'task', task }));
    return [];
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
    // The state is part of the id: a task moving to another group is another item there.
    item.id = `task:${task.id}:${task.state}`;
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
    return { kind: 'taskGroup', state: node.task.state, count: 0 };
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
