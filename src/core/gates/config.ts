import { constants, promises as fs } from 'node:fs';
import * as path from 'node:path';
import { SandboxError } from '../errors';
import { detectTestCommands } from './detect';
import { REPORT_FORMATS, type ReportFormat } from './types';

/** Where a workspace keeps its gates, relative to its root (posix separators). */
export const GATES_DIR = '.sandboxes';
export const GATES_FILE = `${GATES_DIR}/gates.json`;
/** A report path meaning "what the command prints on its standard output" (as `go test -json` does). */
export const STDOUT_REPORT = '-';

export const DEFAULT_TIMEOUT_SECONDS = 600;
export const MAX_TIMEOUT_SECONDS = 7200;
export const MAX_GATES_FILE_BYTES = 1024 * 1024;

export interface ReportSpec {
  format: ReportFormat;
  /** The file the command writes, relative to its cwd (inside the workspace); `-` for its standard output. */
  path: string;
}

/** A command the gates run in the sandbox; its exit code and (when given) its report are its results. */
export interface GateCommand {
  name: string;
  /** A string runs through the shell; an array runs as is (program and arguments). */
  command: string | string[];
  /** Relative to the workspace root; absent: the root. */
  cwd?: string;
  timeoutSeconds: number;
}

export interface TestCommand extends GateCommand {
  /** Absent: the exit code is the command's single result. */
  report?: ReportSpec;
}

export interface L1Rules {
  /** Whether tests that passed on the base and fail, vanish or are skipped now hold the change back. */
  regressions: boolean;
  /** A test is slower when it now takes more than this many times its base duration. */
  slowerFactor: number;
  /** Tests faster than this on the base are never slower: their timings are mostly noise. */
  slowerMinMs: number;
  /** Whether more lint findings of a check than on the base hold the change back. */
  lintGrowth: boolean;
}

export interface L2Rules {
  /** Gitignore-style patterns: a change to a matching path always needs a person. */
  paths: string[];
  /** A change of more lines (added plus removed) than this needs a person; absent: no limit. */
  maxChangedLines?: number;
  /** Whether tasks of priority critical always need a person. */
  critical: boolean;
}

export interface SnapshotRules {
  keep: number;
  maxAgeDays: number;
}

/** The gates of one workspace, with every default filled in. */
export interface GatesConfig {
  /** `file`: read from `file`; `detected`: the file is absent and the tests were guessed from the project. */
  source: 'file' | 'detected';
  /** The gates file's absolute path (where it is, or where to write it). */
  file: string;
  l0: TestCommand[];
  lint: GateCommand[];
  l1: L1Rules;
  l2: L2Rules;
  snapshots: SnapshotRules;
  /** When detection found nothing: what was looked for and how to write the file. */
  detectionNote?: string;
}

/** The fields the file may hold, per object: anything else is refused (the schema lists the same). */
export const GATES_FILE_FIELDS = {
  root: ['$schema', 'l0', 'lint', 'l1', 'l2', 'snapshots'],
  l0: ['name', 'command', 'cwd', 'timeoutSeconds', 'report'],
  report: ['format', 'path'],
  lint: ['name', 'command', 'cwd', 'timeoutSeconds'],
  l1: ['regressions', 'slowerFactor', 'slowerMinMs', 'lintGrowth'],
  l2: ['paths', 'maxChangedLines', 'critical'],
  snapshots: ['keep', 'maxAgeDays'],
} as const;

export function defaultL1Rules(): L1Rules {
  return { regressions: true, slowerFactor: 3, slowerMinMs: 200, lintGrowth: true };
}

export function defaultL2Rules(): L2Rules {
  return { paths: [], critical: true };
}

export function defaultSnapshotRules(): SnapshotRules {
  return { keep: 10, maxAgeDays: 14 };
}

export function gatesFile(workspace: string): string {
  return path.join(workspace, ...GATES_FILE.split('/'));
}

/**
 * The gates of a workspace: always the user's local folder, never a sandbox's copy (a task must
 * not choose the rules that judge it). Without the file, the tests are detected from the project.
 */
export async function readGatesConfig(workspace: string): Promise<GatesConfig> {
  const file = gatesFile(workspace);
  const text = await readGatesText(workspace, file);
  if (text === undefined) {
    const detected = await detectTestCommands(workspace);
    const config: GatesConfig = { ...defaultsOf('detected', file), l0: detected };
    if (detected.length === 0) {
      config.detectionNote =
        `No ${GATES_FILE} and no tests found (no package.json test script, pytest project, go.mod or Cargo.toml), so the gates run no tests; ` +
        `write ${GATES_FILE} with an "l0" list of test commands, e.g. {"l0": [{"name": "tests", "command": "make test"}]}.`;
    }
    return config;
  }
  return parseGatesConfig(parseJsonText(text), file);
}

function defaultsOf(source: GatesConfig['source'], file: string): GatesConfig {
  return { source, file, l0: [], lint: [], l1: defaultL1Rules(), l2: defaultL2Rules(), snapshots: defaultSnapshotRules() };
}

/** The file's text; undefined when absent. Refuses a link out of the workspace, a non-file and an oversized file. */
async function readGatesText(workspace: string, file: string): Promise<string | undefined> {
  try {
    await fs.lstat(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw new SandboxError('invalid-input', `${GATES_FILE} could not be read (${(error as Error).message}); make it readable or delete it.`, { cause: error });
  }
  const root = await fs.realpath(workspace);
  let real: string;
  try {
    real = await fs.realpath(file);
  } catch {
    throw new SandboxError('invalid-input', `${GATES_FILE} is a link that leads nowhere; replace it with a file of its own or delete it.`);
  }
  const inside = path.relative(root, real);
  if (inside === '' || inside === '..' || inside.startsWith(`..${path.sep}`) || path.isAbsolute(inside)) {
    throw new SandboxError('invalid-input', `${GATES_FILE} leads to ${real}, outside the workspace; replace the link with a file of its own.`);
  }
  // No-follow and non-blocking: a file swapped for a link or a fifo since the check is refused, not waited on.
  const handle = await fs.open(real, constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0) | (constants.O_NONBLOCK ?? 0)).catch((error: unknown) => {
    throw new SandboxError('invalid-input', `${GATES_FILE} could not be opened (${(error as Error).message}); make it a plain file.`, { cause: error });
  });
  try {
    const stats = await handle.stat();
    if (!stats.isFile()) throw new SandboxError('invalid-input', `${GATES_FILE} is not a plain file; replace it with a JSON file.`);
    if (stats.size > MAX_GATES_FILE_BYTES) throw tooLarge(stats.size);
    // Read one byte past the limit: a file grown since the stat is still caught.
    const buffer = Buffer.alloc(MAX_GATES_FILE_BYTES + 1);
    let filled = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buffer, filled, buffer.length - filled, filled);
      if (bytesRead === 0) break;
      filled += bytesRead;
      if (filled > MAX_GATES_FILE_BYTES) throw tooLarge(filled);
    }
    return buffer.subarray(0, filled).toString('utf8');
  } finally {
    await handle.close();
  }
}

function tooLarge(bytes: number): SandboxError {
  return new SandboxError('invalid-input', `${GATES_FILE} is ${bytes} bytes, over the limit of ${MAX_GATES_FILE_BYTES} (1 MB); keep only the gates in it.`);
}

/** JSON.parse, with a failure told as a line and column of the file. */
export function parseJsonText(text: string): unknown {
  const body = text.startsWith('\uFEFF') ? text.slice(1) : text;
  try {
    return JSON.parse(body);
  } catch (error) {
    const message = (error as Error).message;
    const position = /at position (\d+)/.exec(message);
    const offset = position ? Number(position[1]) : body.length;
    const before = body.slice(0, offset).split('\n');
    const line = before.length;
    const column = (before[before.length - 1] ?? '').length + 1;
    const reason = message.replace(/\s*in JSON at position \d+.*$/, '').replace(/\.$/, '');
    throw new SandboxError('invalid-input', `${GATES_FILE} is not valid JSON at line ${line}, column ${column} (${reason}); correct it there.`);
  }
}

type Fail = (field: string, problem: string, fix?: string) => never;

/** Checks every field of the parsed file as hostile input and fills in the defaults. */
export function parseGatesConfig(raw: unknown, file: string): GatesConfig {
  const fail: Fail = (field, problem, fix = 'correct it in the file') => {
    throw new SandboxError('invalid-input', `${GATES_FILE}: ${field} ${problem}; ${fix}.`);
  };
  const input = objectOf(raw, 'the content', GATES_FILE_FIELDS.root, fail, '');
  const config = defaultsOf('file', file);
  if (input.$schema !== undefined && typeof input.$schema !== 'string') fail('$schema', 'must be a string');
  if (input.l0 === undefined) fail('l0', 'is missing (a list of test commands, possibly empty)');
  const l0 = arrayOf(input.l0, 'l0', fail);
  config.l0 = l0.map((entry, index) => parseTestCommand(entry, `l0[${index}]`, fail));
  if (input.lint !== undefined) {
    config.lint = arrayOf(input.lint, 'lint', fail).map((entry, index) => {
      const fields = objectOf(entry, `lint[${index}]`, GATES_FILE_FIELDS.lint, fail);
      return parseCommandFields(fields, `lint[${index}]`, fail);
    });
  }
  refuseDuplicateNames(config.l0, 'l0', fail);
  refuseDuplicateNames(config.lint, 'lint', fail);
  if (input.l1 !== undefined) {
    const l1 = objectOf(input.l1, 'l1', GATES_FILE_FIELDS.l1, fail);
    if (l1.regressions !== undefined) config.l1.regressions = booleanOf(l1.regressions, 'l1.regressions', fail);
    if (l1.lintGrowth !== undefined) config.l1.lintGrowth = booleanOf(l1.lintGrowth, 'l1.lintGrowth', fail);
    if (l1.slowerFactor !== undefined) {
      const factor = l1.slowerFactor;
      if (typeof factor !== 'number' || !Number.isFinite(factor) || factor <= 1 || factor > 1000)
        fail('l1.slowerFactor', 'must be a number above 1 and at most 1000');
      config.l1.slowerFactor = factor as number;
    }
    if (l1.slowerMinMs !== undefined) config.l1.slowerMinMs = wholeNumber(l1.slowerMinMs, 'l1.slowerMinMs', 0, 86_400_000, fail);
  }
  if (input.l2 !== undefined) {
    const l2 = objectOf(input.l2, 'l2', GATES_FILE_FIELDS.l2, fail);
    if (l2.paths !== undefined) {
      config.l2.paths = arrayOf(l2.paths, 'l2.paths', fail).map((pattern, index) => {
        if (typeof pattern !== 'string' || pattern.trim() === '' || /[\u0000-\u001f]/.test(pattern)) {
          fail(`l2.paths[${index}]`, 'must be a gitignore-style pattern on one line, such as "src/auth/**"');
        }
        return pattern as string;
      });
    }
    if (l2.maxChangedLines !== undefined) config.l2.maxChangedLines = wholeNumber(l2.maxChangedLines, 'l2.maxChangedLines', 0, 100_000_000, fail);
    if (l2.critical !== undefined) config.l2.critical = booleanOf(l2.critical, 'l2.critical', fail);
  }
  if (input.snapshots !== undefined) {
    const snapshots = objectOf(input.snapshots, 'snapshots', GATES_FILE_FIELDS.snapshots, fail);
    if (snapshots.keep !== undefined) config.snapshots.keep = wholeNumber(snapshots.keep, 'snapshots.keep', 1, 1000, fail);
    if (snapshots.maxAgeDays !== undefined) config.snapshots.maxAgeDays = wholeNumber(snapshots.maxAgeDays, 'snapshots.maxAgeDays', 1, 3650, fail);
  }
  return config;
}

function parseTestCommand(entry: unknown, field: string, fail: Fail): TestCommand {
  const fields = objectOf(entry, field, GATES_FILE_FIELDS.l0, fail);
  const command: TestCommand = parseCommandFields(fields, field, fail);
  if (fields.report !== undefined) {
    const report = objectOf(fields.report, `${field}.report`, GATES_FILE_FIELDS.report, fail);
    if (!REPORT_FORMATS.includes(report.format as ReportFormat)) fail(`${field}.report.format`, `must be one of ${REPORT_FORMATS.join(', ')}`);
    if (report.path === undefined)
      fail(`${field}.report.path`, `is missing (the file the command writes, relative to the workspace, or "${STDOUT_REPORT}" for its output)`);
    const reportPath = report.path === STDOUT_REPORT ? STDOUT_REPORT : plainRelativePath(report.path, `${field}.report.path`, fail, `or "${STDOUT_REPORT}"`);
    command.report = { format: report.format as ReportFormat, path: reportPath };
  }
  return command;
}

function parseCommandFields(fields: Record<string, unknown>, field: string, fail: Fail): GateCommand {
  const name = fields.name;
  if (typeof name !== 'string' || name.trim() === '' || name.length > 100 || /[\u0000-\u001f\u007f]/.test(name)) {
    fail(`${field}.name`, 'must be a short name on one line (1 to 100 characters)');
  }
  const result: GateCommand = { name: name as string, command: commandOf(fields.command, `${field}.command`, fail), timeoutSeconds: DEFAULT_TIMEOUT_SECONDS };
  if (fields.cwd !== undefined) result.cwd = plainRelativePath(fields.cwd, `${field}.cwd`, fail);
  if (fields.timeoutSeconds !== undefined) result.timeoutSeconds = wholeNumber(fields.timeoutSeconds, `${field}.timeoutSeconds`, 1, MAX_TIMEOUT_SECONDS, fail);
  return result;
}

const MAX_COMMAND_CHARS = 10_000;

function commandOf(value: unknown, field: string, fail: Fail): string | string[] {
  if (typeof value === 'string') {
    if (value.trim() === '' || value.length > MAX_COMMAND_CHARS || value.includes('\u0000'))
      fail(field, `must be a command line of 1 to ${MAX_COMMAND_CHARS} characters`);
    return value;
  }
  if (Array.isArray(value)) {
    const words = value as unknown[];
    if (words.length === 0 || typeof words[0] !== 'string' || words[0] === '') fail(field, 'must start with the program to run');
    words.forEach((word, index) => {
      if (typeof word !== 'string' || word.includes('\u0000')) fail(`${field}[${index}]`, 'must be a string without NUL characters');
    });
    if (words.join(' ').length > MAX_COMMAND_CHARS) fail(field, `must be at most ${MAX_COMMAND_CHARS} characters in all`);
    return [...(words as string[])];
  }
  if (value === undefined) return fail(field, 'is missing (a command line, or a list of a program and its arguments)');
  return fail(field, 'must be a command line string or a list of a program and its arguments');
}

/**
 * A path inside the workspace, relative to its root: forward slashes, no `.` or `..` part, no empty
 * part, not absolute (nor a Windows drive), no backslash and no control character.
 */
export function isPlainWorkspacePath(value: string): boolean {
  if (value === '' || value.length > 1000 || /[\u0000-\u001f\\]/.test(value) || /^[A-Za-z]:/.test(value)) return false;
  return value.split('/').every((part) => part !== '' && part !== '.' && part !== '..');
}

function plainRelativePath(value: unknown, field: string, fail: Fail, alternative = ''): string {
  if (typeof value !== 'string' || !isPlainWorkspacePath(value)) {
    const or = alternative === '' ? '' : ` ${alternative}`;
    fail(field, `must be a path relative to the workspace such as "build/report.xml"${or} (forward slashes; no "..", no leading "/")`);
  }
  return value as string;
}

/** `prefix` names the object's fields in messages: `l0[1].` for the first test command, empty at the top. */
function objectOf(value: unknown, field: string, known: readonly string[], fail: Fail, prefix = `${field}.`): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(field, 'must be an object');
  const object = value as Record<string, unknown>;
  for (const key of Object.keys(object)) {
    if (!known.includes(key)) fail(`${prefix}${key}`, `is not a known field (known: ${known.join(', ')})`, 'remove it or fix its spelling');
  }
  // Only own fields count: a name such as "constructor" must never reach Object.prototype.
  return Object.fromEntries(Object.entries(object));
}

function arrayOf(value: unknown, field: string, fail: Fail): unknown[] {
  if (!Array.isArray(value)) fail(field, 'must be a list');
  if ((value as unknown[]).length > 100) fail(field, 'must hold at most 100 entries');
  return value as unknown[];
}

function booleanOf(value: unknown, field: string, fail: Fail): boolean {
  if (typeof value !== 'boolean') fail(field, 'must be true or false');
  return value as boolean;
}

function wholeNumber(value: unknown, field: string, min: number, max: number, fail: Fail): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) fail(field, `must be a whole number from ${min} to ${max}`);
  return value as number;
}

function refuseDuplicateNames(commands: readonly GateCommand[], list: string, fail: Fail): void {
  const seen = new Set<string>();
  commands.forEach((command, index) => {
    if (seen.has(command.name)) fail(`${list}[${index}].name`, `repeats the name "${command.name}" (names tell the results apart)`);
    seen.add(command.name);
  });
}
