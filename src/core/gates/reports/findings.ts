import { workspaceLocation, type ReportContext } from './locations';
import { oneLine } from './reportCollector';
import type { LintFinding } from '../types';

/** Caps on what a check's output may make us hold: it is printed by tools run on the task's code. */
export const FINDING_LIMITS = {
  maxFindings: 5_000,
  /** Larger output is read up to this size only. */
  maxOutputChars: 20 * 1024 * 1024,
} as const;

/**
 * `path:line:column: message` and `path:line: message`, as ESLint's unix format, ruff, flake8,
 * mypy and go vet print them. The path may not hold a colon (a line number would be taken for
 * part of it); lines of any other shape (summaries, headers such as go vet's `# package`) are not findings.
 * go vet prefixes the errors of a package it cannot type-check with `vet: `.
 */
const FINDING_LINE = /^(?:vet: )?([^:\n]+):(\d+):(?:(\d+):)? ?(.*)$/;
/** ruff's full format (its default) and rustc-like tools: the message, then ` --> path:line:column` on the next line. */
const ARROW_LINE = /^ *--> ([^:\n]+):(\d+):(\d+)\s*$/;

/**
 * The findings a lint check printed, in order, at most `FINDING_LIMITS.maxFindings`. Findings
 * whose path is outside the workspace are dropped: a location is never given outside it.
 */
export function parseLintOutput(check: string, text: string, context: ReportContext): LintFinding[] {
  const findings: LintFinding[] = [];
  const readable = text.length > FINDING_LIMITS.maxOutputChars ? text.slice(0, FINDING_LIMITS.maxOutputChars) : text;
  let previousLine = '';
  for (const rawLine of readable.split('\n')) {
    if (findings.length >= FINDING_LIMITS.maxFindings) break;
    const current = rawLine.replace(/\r$/, '');
    const arrow = ARROW_LINE.exec(current);
    const match = arrow ? null : FINDING_LINE.exec(current);
    if (arrow) {
      const location = workspaceLocation(arrow[1], arrow[2], arrow[3], context);
      if (location) findings.push({ location, message: oneLine(previousLine) || '(no message)', check });
    } else if (match) {
      const [, rawPath, line, column, message] = match;
      // A finding's path has no leading or trailing space: such lines are a report's indented context.
      const location = rawPath === rawPath.trim() ? workspaceLocation(rawPath, line, column, context) : undefined;
      if (location) findings.push({ location, message: oneLine(message) || '(no message)', check });
    }
    if (current.trim() !== '') previousLine = current;
  }
  return findings;
}
