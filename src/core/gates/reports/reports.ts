import { parseGoTestReport } from './goTestReport';
import { parseJUnitReport } from './junitReport';
import type { ReportContext } from './locations';
import { REPORT_LIMITS, refusedReport } from './reportCollector';
import { parseTapReport } from './tapReport';
import type { ReportFormat, TestReport } from '../types';

export { GO_PACKAGE_CASE_NAME } from './goTestReport';
export type { ReportContext } from './locations';
export { REPORT_LIMITS } from './reportCollector';

/**
 * The test cases of a report a test run wrote in the sandbox. Never throws: what cannot be read
 * is said in `problems`. A report with no test case is valid (`tests` is empty); what that
 * means is the caller's to decide.
 */
export function parseReport(format: ReportFormat, text: string, context: ReportContext): TestReport {
  // UTF-8 takes at most 3 bytes a UTF-16 unit: a string of fewer units than a third of the cap is under it, uncounted.
  if (text.length > REPORT_LIMITS.maxReportBytes / 3 && Buffer.byteLength(text, 'utf8') > REPORT_LIMITS.maxReportBytes) {
    const megabytes = REPORT_LIMITS.maxReportBytes / (1024 * 1024);
    return refusedReport(
      format,
      `The ${format} report is larger than ${megabytes} MB, so it was not read: have the test run write a smaller report (fewer tests, or less output captured in it).`,
    );
  }
  try {
    return parserOf(format)(text, context);
  } catch (error) {
    // The parsers catch what their libraries throw; this is for what no one foresaw in a hostile report.
    return refusedReport(format, `The ${format} report could not be read (${error instanceof Error ? error.message : String(error)}).`);
  }
}

function parserOf(format: ReportFormat): (text: string, context: ReportContext) => TestReport {
  switch (format) {
    case 'junit':
      return parseJUnitReport;
    case 'tap':
      return parseTapReport;
    case 'go-json':
      return parseGoTestReport;
  }
}
