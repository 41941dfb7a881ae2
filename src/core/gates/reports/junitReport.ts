import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { framesInWorkspace, MAX_TRACE_CHARS, workspaceLocation, workspacePath, type ReportContext } from './locations';
import { ReportCollector, secondsToMs } from './reportCollector';
import type { TestReport, TestStatus, WorkspaceLocation } from '../types';

/** The elements that may repeat: always read as arrays, so one and many look the same. */
const REPEATED = new Set(['testsuite', 'testcase', 'failure', 'error', 'skipped', 'system-out', 'system-err']);

const ATTRIBUTES = '@';

/**
 * The report is written by the code under test: entities are not expanded at all (no DTD
 * entity, so no entity bomb and no external file), the five XML ones and character references
 * are decoded by `decodeXmlText`; a DOCTYPE with an external entity makes the parser refuse.
 */
const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '',
  attributesGroupName: ATTRIBUTES,
  textNodeName: '#text',
  cdataPropName: '#cdata',
  alwaysCreateTextNode: true,
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: false,
  processEntities: false,
  htmlEntities: false,
  ignoreDeclaration: true,
  ignorePiTags: true,
  isArray: (name) => REPEATED.has(name),
});

/** An element as the parser gives it: attributes under '@', text, CDATA and child elements. */
type XmlNode = Record<string, unknown>;

/** JUnit XML, in the shapes pytest, mocha, jest-junit, Node's test runner and Maven Surefire write. */
export function parseJUnitReport(text: string, context: ReportContext): TestReport {
  const collector = new ReportCollector('junit');
  const validity = XMLValidator.validate(text);
  if (validity !== true) {
    const { msg, line } = validity.err;
    collector.problem(`The JUnit report is not well-formed XML (line ${line}: ${msg}); no test could be read from it.`);
    return collector.finish();
  }
  let document: XmlNode;
  try {
    document = parser.parse(text) as XmlNode;
  } catch (error) {
    collector.problem(`The JUnit report could not be read (${error instanceof Error ? error.message : String(error)}); no test could be read from it.`);
    return collector.finish();
  }
  if (!('testsuites' in document) && !('testsuite' in document) && !('testcase' in document)) {
    collector.problem('The JUnit report has no <testsuites> or <testsuite> element: it is not a JUnit report.');
  }
  readSuite(asNode(document.testsuites) ?? document, undefined, collector, context);
  return collector.finish();
}

/** Reads a suite's test cases, then its nested suites (Node's runner and jest nest them). */
function readSuite(suite: XmlNode, suiteName: string | undefined, collector: ReportCollector, context: ReportContext): void {
  for (const testCase of children(suite, 'testcase')) readTestCase(testCase, suiteName, collector, context);
  for (const nested of children(suite, 'testsuite')) {
    const name = attribute(nested, 'name');
    readSuite(nested, name !== undefined && name !== '' ? name : suiteName, collector, context);
  }
}

function readTestCase(testCase: XmlNode, suiteName: string | undefined, collector: ReportCollector, context: ReportContext): void {
  const failures = children(testCase, 'failure');
  const errors = children(testCase, 'error');
  const skips = children(testCase, 'skipped');
  const status: TestStatus =
    failures.length > 0 ? 'failed' : errors.length > 0 ? 'error' : skips.length > 0 || skippedByAttribute(testCase) ? 'skipped' : 'passed';
  const detail = failures[0] ?? errors[0] ?? skips[0];
  const detailText = detail === undefined ? '' : textOf(detail);
  const captured = ['system-out', 'system-err'].flatMap((name) => children(testCase, name).map(textOf)).filter((part) => part.trim() !== '');
  const output = status === 'passed' ? undefined : [detailText, ...captured].filter((part) => part.trim() !== '').join('\n');
  collector.add({
    name: attribute(testCase, 'name') ?? '(unnamed)',
    suite: attribute(testCase, 'classname') || suiteName,
    status,
    durationMs: secondsToMs(attribute(testCase, 'time')),
    message: detail === undefined ? undefined : attribute(detail, 'message') || firstLine(detailText),
    output,
    location: status === 'passed' ? attributeLocation(testCase, context) : failureLocation(testCase, detailText, context),
  });
}

function skippedByAttribute(testCase: XmlNode): boolean {
  const status = attribute(testCase, 'status')?.toLowerCase();
  return status === 'skipped' || status === 'disabled' || status === 'notrun';
}

/**
 * Where the report's attributes say the test is. pytest (the one Python runner that writes
 * `line`) writes it 0-based, hence the shift for Python files.
 */
function attributeLocation(testCase: XmlNode, context: ReportContext): WorkspaceLocation | undefined {
  const file = attribute(testCase, 'file');
  const line = attribute(testCase, 'line');
  if (file === undefined || line === undefined || !/^\s*\d+\s*$/.test(line)) return undefined;
  return workspaceLocation(file, file.endsWith('.py') ? Number(line) + 1 : line, undefined, context);
}

/**
 * Where a failure points: the report's file, at the innermost frame of the trace in that file
 * when there is one (the failing line rather than the test's first line; jest-junit gives a file
 * and no line), else the report's file and line, else the innermost frame in the workspace.
 */
function failureLocation(testCase: XmlNode, detailText: string, context: ReportContext): WorkspaceLocation | undefined {
  const frames = framesInWorkspace(detailText.slice(0, MAX_TRACE_CHARS), context);
  const file = attribute(testCase, 'file');
  const filePath = file === undefined ? undefined : workspacePath(file, context);
  return frames.find((frame) => frame.path === filePath) ?? attributeLocation(testCase, context) ?? frames[0];
}

function asNode(value: unknown): XmlNode | undefined {
  if (Array.isArray(value)) return asNode(value[0]);
  return typeof value === 'object' && value !== null ? (value as XmlNode) : undefined;
}

function children(node: XmlNode, name: string): XmlNode[] {
  const value = node[name];
  return Array.isArray(value) ? value.filter((child): child is XmlNode => typeof child === 'object' && child !== null) : [];
}

function attribute(node: XmlNode, name: string): string | undefined {
  const attributes = asNode(node[ATTRIBUTES]);
  const value = attributes?.[name];
  return typeof value === 'string' ? decodeXmlText(value) : undefined;
}

/** An element's text: its text and CDATA sections (CDATA is literal, text has references to decode). */
function textOf(node: XmlNode): string {
  const text = typeof node['#text'] === 'string' ? decodeXmlText(node['#text']) : '';
  const cdata = asNode(node['#cdata']);
  const literal = cdata && typeof cdata['#text'] === 'string' ? cdata['#text'] : '';
  return text.trim() === '' ? literal : literal === '' ? text : `${text}\n${literal}`;
}

function firstLine(text: string): string | undefined {
  return text.split('\n').find((line) => line.trim() !== '');
}

const XML_ENTITIES: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

/** Decodes the five XML entities and character references; any other `&name;` is left as written. */
export function decodeXmlText(text: string): string {
  if (!text.includes('&')) return text;
  return text.replace(/&(?:#(\d{1,7})|#[xX]([0-9a-fA-F]{1,6})|(lt|gt|amp|quot|apos));/g, (whole, decimal?: string, hex?: string, named?: string) => {
    if (named !== undefined) return XML_ENTITIES[named] ?? whole;
    const code = decimal !== undefined ? Number(decimal) : parseInt(hex ?? '', 16);
    const valid = code > 0 && code <= 0x10ffff && !(code >= 0xd800 && code <= 0xdfff);
    return valid ? String.fromCodePoint(code) : whole;
  });
}
