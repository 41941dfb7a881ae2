import * as fs from 'node:fs';
import * as path from 'node:path';
import type { TestCaseResult, TestReport } from '../../../../src/core/gates/types';

/** The workspace path the fixtures were produced in. */
export const WORKDIR = '/home/agent/workspace';
export const context = { workdir: WORKDIR };

const FIXTURES = path.resolve(__dirname, '../../../../../test/fixtures/gates/reports');

export function fixture(name: string): string {
  return fs.readFileSync(path.join(FIXTURES, name), 'utf8');
}

/** The case with this id; fails the test when there is none. */
export function caseById(report: TestReport, id: string): TestCaseResult {
  const found = report.tests.find((test) => test.id === id);
  if (!found) throw new Error(`no test case ${JSON.stringify(id)} among ${JSON.stringify(report.tests.map((test) => test.id))}`);
  return found;
}

/** How many cases have each status. */
export function counts(report: TestReport): Record<string, number> {
  const result: Record<string, number> = { passed: 0, failed: 0, error: 0, skipped: 0 };
  for (const test of report.tests) result[test.status]++;
  return result;
}
