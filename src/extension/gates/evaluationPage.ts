import type { EvalRow, Evaluation } from '../../core/evaluator/evaluate';
import { escapeHtml } from '../../core/util/html';

/** The evaluator's page: tables only, no script; styles carry the nonce the CSP allows. */
export function evaluationPage(evaluation: Evaluation, nonce: string, cspSource: string): string {
  const percent = (rate: number | null) => (rate === null ? '–' : `${Math.round(rate * 100)}%`);
  const row = (entry: EvalRow) =>
    `<tr><th scope="row">${escapeHtml(entry.key)}</th><td>${entry.tasks}</td><td>${percent(entry.successRate)}</td>` +
    `<td>${percent(entry.gates.L0.rate)}</td><td>${percent(entry.gates.L1.rate)}</td><td>${percent(entry.gates.L2.rate)}</td>` +
    `<td>${entry.meanSeconds === null ? '–' : `${entry.meanSeconds.toFixed(1)} s`}</td><td>${entry.computeSeconds} s</td>` +
    `<td>${entry.meanLintFindings === null ? '–' : entry.meanLintFindings.toFixed(1)}</td><td>${entry.meanDiffLines === null ? '–' : entry.meanDiffLines.toFixed(0)}</td></tr>`;
  const table = (title: string, rows: EvalRow[]) =>
    `<h2>${escapeHtml(title)}</h2><table><thead><tr><th></th><th>Tasks</th><th>Success</th><th>L0 pass</th><th>L1 pass</th><th>L2 pass</th><th>Mean time</th><th>Sandbox time</th><th>Lint findings</th><th>Diff lines</th></tr></thead><tbody>${rows.map(row).join('')}</tbody></table>`;
  const { trend } = evaluation;
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'nonce-${nonce}' ${cspSource}">
<style nonce="${nonce}">body{font-family:var(--vscode-font-family);color:var(--vscode-foreground)}table{border-collapse:collapse;margin-bottom:1.5em}th,td{padding:.25em .75em;text-align:right;border-bottom:1px solid var(--vscode-editorWidget-border)}th[scope=row]{text-align:left}</style>
<title>Sandbox Evaluation</title></head><body>
<h1>Evaluation</h1>
<p>Trend: ${percent(trend.recent)} of the last ${trend.window} finished tasks succeeded, against ${percent(trend.before)} of the ${trend.window} before.</p>
${table('All tasks', [evaluation.overall])}
${table('Per agent', evaluation.byAgent)}
${table('Per kind of task', evaluation.byKind)}
</body></html>`;
}
