import { parseGoTestReport } from './goTestReport';
import { parseJUnitReport } from './junitReport';
import type { ReportContext } from './locations';
import { REPORT_LIMITS, refusedReport } from './reportCollector';
import { parseTapReport } from './tapReport';
import type { ReportFormat, TestReport } from './types';

export { GO_PACKAGE_CASE_NAME } from './goTestReport';
export { REPORT_LIMITS } from './reportCollector';

/**
 * The test cases of a report a test run wrote in the sandbox. Never throws: what cannot be read
 * is said in `problems`. A report with no test case is valid (`tests` is empty); what that
 * means is the caller's to decide.
 */
export function parseReport(format: ReportFormat, text: string, context: ReportContext): TestReport {
  // Measured in UTF-16 units first: a string shorter than the cap in units can still be longer in bytes, never the reverse.
  if (text.length > REPORT_LIMITS.maxReportBytes / 3 && Buffer.byteLength(text, 'utf8') > REPORT_LIMITS.maxReportBytes) {
    const megabytes = REPORT_LIMITS.maxReportBytes / (1024 * 1024);
    return refusedReport(
      format,
      `The ${format} report is larger than ${megabytes} MB, so it was not read: have the test run write a smaller report (fewer tests, or less output captured in it).`,
    );
  }
  switch (format) {
    case 'junit':
      return parseJUnitReport(text, context);
    case 'tap':
      return parseTapReport(text, context);
    case 'go-json':
      return parseGoTestReport(text, context);
  }
}
