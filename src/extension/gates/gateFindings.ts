import * as path from 'node:path';
import type { GateResult } from '../../core/gates/pipeline';
import type { TestCaseResult, WorkspaceLocation } from '../../core/gates/types';

/**
 * What the gates found, as the Problems panel and the Testing view show it. No vscode import:
 * tested in plain Node; gateViews.ts turns these into Diagnostics and test items.
 */

export type FindingSource = 'Sandboxes L0' | 'Sandboxes L1';

export interface GateFinding {
  /** Absolute path of the local file. */
  file: string;
  /** 0-based, as VS Code counts. */
  line: number;
  column: number;
  severity: 'error' | 'warning';
  source: FindingSource;
  message: string;
  /** The test or rule it comes from. */
  code?: string;
  /** The test's name and output, shown as related information on the same file. */
  details?: string;
}

/** A path of a finding, resolved inside the workspace; undefined when it would leave it. */
export function workspaceFile(workspace: string, location: WorkspaceLocation | undefined): string | undefined {
  if (!location || typeof location.path !== 'string' || path.isAbsolute(location.path)) return undefined;
  const file = path.resolve(workspace, location.path);
  return file.startsWith(workspace + path.sep) ? file : undefined;
}

function at(location: WorkspaceLocation): { line: number; column: number } {
  return { line: Math.max(0, (location.line || 1) - 1), column: Math.max(0, (location.column ?? 1) - 1) };
}

/** Failing tests and lint findings (L0) and regressions (L1), on the local files they point to. */
export function gateFindings(result: GateResult): GateFinding[] {
  const findings: GateFinding[] = [];
  for (const test of result.l0?.tests ?? []) {
    if (test.status !== 'failed' && test.status !== 'error') continue;
    const file = workspaceFile(result.workspace, test.location);
    if (!file) continue;
    findings.push({
      file,
      ...at(test.location!),
      severity: 'error',
      source: 'Sandboxes L0',
      message: `${test.name}: ${test.message ?? test.status}`,
      code: test.id,
      details: `${test.name}${test.output ? `\n${test.output}` : ''}`,
    });
  }
  for (const finding of result.l0?.findings ?? []) {
    const file = workspaceFile(result.workspace, finding.location);
    if (file) findings.push({ file, ...at(finding.location), severity: 'warning', source: 'Sandboxes L0', message: finding.message, code: finding.check });
  }
  for (const finding of result.l1) {
    const file = workspaceFile(result.workspace, finding.location);
    if (file)
      findings.push({
        file,
        ...at(finding.location!),
        severity: 'error',
        source: 'Sandboxes L1',
        message: finding.message,
        code: finding.testId ?? finding.kind,
      });
  }
  return findings;
}

/** The tests of a gate run for the Testing view: L0's run on the change. */
export function gateTests(result: GateResult): Array<TestCaseResult & { file?: string }> {
  return (result.l0?.tests ?? []).map((test) => {
    const file = workspaceFile(result.workspace, test.location);
    return file ? { ...test, file } : { ...test };
  });
}
