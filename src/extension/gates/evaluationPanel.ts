import { randomBytes } from 'node:crypto';
import * as vscode from 'vscode';
import type { Cockpit } from '../cockpit';
import { loadCore } from '../lazyCore';
import type { TaskBoard } from '../taskBoard';
import { evaluationPage } from './evaluationPage';

/** Show Evaluation: the evaluator's tables in a panel, drawn again when the tasks change. */
export function showEvaluationCommand(cockpit: Cockpit, board: TaskBoard) {
  let panel: vscode.WebviewPanel | undefined;
  return async (): Promise<void> => {
    if (panel) {
      panel.reveal();
      return;
    }
    const opened = vscode.window.createWebviewPanel('sandboxes.evaluation', 'Sandbox Evaluation', vscode.ViewColumn.Active, { enableScripts: false });
    panel = opened;
    const draw = async () => {
      const core = loadCore();
      const evaluation = core.evaluate(board.tasks, await core.readGateHistory(cockpit.stateDir()));
      opened.webview.html = evaluationPage(evaluation, randomBytes(16).toString('base64'), opened.webview.cspSource);
    };
    const subscription = board.onDidChange(({ timeOnly }) => (timeOnly ? undefined : void draw()));
    opened.onDidDispose(() => {
      subscription.dispose();
      panel = undefined;
    });
    await draw();
  };
}
