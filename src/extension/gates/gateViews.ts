import * as vscode from 'vscode';
import type { GateResult } from '../../core/gates/pipeline';
import type { Task } from '../../core/tasks/model';
import type { Cockpit } from '../cockpit';
import { loadCore } from '../lazyCore';
import type { TaskBoard } from '../taskBoard';
import { gateFindings, gateTests, type GateFinding } from './gateFindings';

export const GATE_TEST_CONTROLLER_ID = 'sandboxes.gates';

export type GateTestOutcome = 'passed' | 'failed' | 'errored' | 'skipped';

/** What the last published test run reported (the Testing API lets no one read a run's results back). */
export interface GateRunSummary {
  /** The run's name, as the Testing view shows it. */
  name: string;
  /** Each test's outcome, by its test item's id. */
  outcomes: ReadonlyMap<string, GateTestOutcome>;
}

/**
 * The gates' results in VS Code: failing tests, lint findings and regressions as diagnostics on
 * the local files (replaced when the gates of the same workspace run again), and each gate run as
 * a test run of its own controller in the Testing view.
 */
export class GateViews implements vscode.Disposable {
  readonly diagnostics = vscode.languages.createDiagnosticCollection('sandboxes-gates');
  readonly tests = vscode.tests.createTestController(GATE_TEST_CONTROLLER_ID, 'Sandbox Gates');
  /** The result shown per workspace, by its task, attempt and time: a result is shown once. */
  private readonly shown = new Map<string, string>();
  /** Files with diagnostics, per workspace, so the next run of that workspace replaces them. */
  private readonly files = new Map<string, vscode.Uri[]>();
  private readonly subscription: vscode.Disposable;
  private reading = false;
  private lastRunSummary?: GateRunSummary;

  constructor(
    private readonly cockpit: Cockpit,
    private readonly board: TaskBoard,
  ) {
    this.subscription = board.onDidChange(({ timeOnly }) => {
      if (!timeOnly) void this.refresh();
    });
  }

  /** The last test run published, read-only: for other extensions and the extension-host tests. */
  get lastRun(): GateRunSummary | undefined {
    return this.lastRunSummary;
  }

  /** Reads the newest gate result of every workspace and shows it when it is new. */
  async refresh(): Promise<void> {
    if (this.reading) return;
    this.reading = true;
    try {
      const latest = new Map<string, Task>();
      for (const task of this.board.tasks) {
        if (!task.gate || !task.workspace || task.gate.phase === 'checking') continue;
        const known = latest.get(task.workspace);
        if (!known || known.updatedAt < task.updatedAt) latest.set(task.workspace, task);
      }
      for (const [workspace, task] of latest) {
        const result = await loadCore()
          .readGateResult(this.cockpit.stateDir(), task.id, task.gate!.attempt)
          .catch(() => undefined);
        if (!result) continue;
        const key = `${result.taskId}:${result.attempt}:${result.time}:${result.phase}`;
        if (this.shown.get(workspace) === key) continue;
        this.shown.set(workspace, key);
        this.show(workspace, result, task);
      }
    } finally {
      this.reading = false;
    }
  }

  private show(workspace: string, result: GateResult, task: Task): void {
    for (const uri of this.files.get(workspace) ?? []) this.diagnostics.delete(uri);
    const byFile = new Map<string, vscode.Diagnostic[]>();
    for (const finding of gateFindings(result)) {
      byFile.set(finding.file, [...(byFile.get(finding.file) ?? []), toDiagnostic(finding)]);
    }
    const uris = [...byFile.keys()].map((file) => vscode.Uri.file(file));
    for (const uri of uris) this.diagnostics.set(uri, byFile.get(uri.fsPath));
    this.files.set(workspace, uris);
    this.publishRun(result, task);
  }

  /** One test run per gate run: the tests as items of the task's workspace, with their results. */
  private publishRun(result: GateResult, task: Task): void {
    const tests = gateTests(result);
    if (tests.length === 0) return;
    const rootId = `workspace:${result.workspace}`;
    const root = this.tests.items.get(rootId) ?? this.tests.createTestItem(rootId, vscode.workspace.asRelativePath(result.workspace));
    this.tests.items.add(root);
    const items = tests.map((test) => {
      const item = root.children.get(test.id) ?? this.tests.createTestItem(test.id, test.name, test.file ? vscode.Uri.file(test.file) : undefined);
      if (test.location && test.file) item.range = new vscode.Range(test.location.line - 1, 0, test.location.line - 1, 0);
      return { item, test };
    });
    // The items are this run's tests: one renamed or deleted since the last run goes.
    root.children.replace(items.map(({ item }) => item));
    const name = `Gates of task ${task.id} (${result.phase})`;
    const run = this.tests.createTestRun(new vscode.TestRunRequest([root]), name, false);
    const outcomes = new Map<string, GateTestOutcome>();
    for (const { item, test } of items) {
      const duration = test.durationMs;
      outcomes.set(item.id, test.status === 'error' ? 'errored' : test.status);
      if (test.status === 'passed') run.passed(item, duration);
      else if (test.status === 'skipped') run.skipped(item);
      else {
        const message = new vscode.TestMessage(`${test.message ?? test.status}${test.output ? `\n\n${test.output}` : ''}`);
        if (test.file && test.location) message.location = new vscode.Location(vscode.Uri.file(test.file), new vscode.Position(test.location.line - 1, 0));
        if (test.status === 'error') run.errored(item, message, duration);
        else run.failed(item, message, duration);
      }
    }
    run.end();
    this.lastRunSummary = { name, outcomes };
  }

  dispose(): void {
    this.subscription.dispose();
    this.diagnostics.dispose();
    this.tests.dispose();
  }
}

function toDiagnostic(finding: GateFinding): vscode.Diagnostic {
  const range = new vscode.Range(finding.line, finding.column, finding.line, Number.MAX_SAFE_INTEGER);
  const diagnostic = new vscode.Diagnostic(
    range,
    finding.message,
    finding.severity === 'error' ? vscode.DiagnosticSeverity.Error : vscode.DiagnosticSeverity.Warning,
  );
  diagnostic.source = finding.source;
  if (finding.code) diagnostic.code = finding.code;
  if (finding.details) {
    diagnostic.relatedInformation = [
      new vscode.DiagnosticRelatedInformation(new vscode.Location(vscode.Uri.file(finding.file), range), finding.details.slice(0, 2000)),
    ];
  }
  return diagnostic;
}
