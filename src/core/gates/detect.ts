import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { TestCommand } from './config';

/**
 * Guesses a workspace's test commands from the files at its root, for when it has no gates file.
 * Every ecosystem found is listed (a repo with a package.json and a pytest suite gets both).
 * Only the root is looked at: a project whose tests live deeper writes the gates file.
 */

const DETECTED_TIMEOUT_SECONDS = 600;
/** Where the detected pytest command writes its report, relative to the workspace. */
export const PYTEST_REPORT_PATH = '.sandboxes-report/pytest.xml';
/** What `npm init` writes: a test script that only fails. */
const NPM_PLACEHOLDER_TEST = /no test specified/;
/** Files of detection larger than this are not read (a project file is far smaller). */
const MAX_PROJECT_FILE_BYTES = 1024 * 1024;

export async function detectTestCommands(workspace: string): Promise<TestCommand[]> {
  const commands: TestCommand[] = [];
  const npm = await detectNpm(workspace);
  if (npm) commands.push(npm);
  if (await isPytestProject(workspace)) {
    commands.push({
      name: 'pytest',
      command: ['python3', '-m', 'pytest', '-q', `--junitxml=${PYTEST_REPORT_PATH}`],
      timeoutSeconds: DETECTED_TIMEOUT_SECONDS,
      report: { format: 'junit', path: PYTEST_REPORT_PATH },
    });
  }
  if (await isFile(workspace, 'go.mod')) {
    commands.push({
      name: 'go test',
      command: ['go', 'test', '-json', './...'],
      timeoutSeconds: DETECTED_TIMEOUT_SECONDS,
      report: { format: 'go-json', path: '-' },
    });
  }
  if (await isFile(workspace, 'Cargo.toml')) {
    commands.push({ name: 'cargo test', command: ['cargo', 'test'], timeoutSeconds: DETECTED_TIMEOUT_SECONDS });
  }
  return commands;
}

async function detectNpm(workspace: string): Promise<TestCommand | undefined> {
  const manifest = asObject(parseJson(await readProjectFile(workspace, 'package.json')));
  const testScript = asObject(manifest?.scripts)?.test;
  if (typeof testScript !== 'string' || testScript.trim() === '' || NPM_PLACEHOLDER_TEST.test(testScript)) return undefined;
  const command: TestCommand = { name: 'npm test', command: ['npm', 'test'], timeoutSeconds: DETECTED_TIMEOUT_SECONDS };
  const reportPath = configuredJunitReport(manifest ?? {}, testScript, parseJson(await readProjectFile(workspace, '.mocharc.json')));
  if (reportPath !== undefined) command.report = { format: 'junit', path: reportPath };
  return command;
}

/**
 * The JUnit file the project already has its tests write, when package.json or .mocharc.json says
 * so plainly: jest-junit, mocha-junit-reporter, or a `--reporter=junit --outputFile=X` test script
 * (vitest). A report configured in code (jest.config.js) is not seen: then the exit code counts.
 */
export function configuredJunitReport(manifest: Record<string, unknown>, testScript: string, mocharc: unknown): string | undefined {
  const jest = asObject(manifest.jest);
  const jestReporters = Array.isArray(jest?.reporters) ? jest.reporters : [];
  const usesJestJunit = jestReporters.some((entry) => entry === 'jest-junit' || (Array.isArray(entry) && entry[0] === 'jest-junit'));
  if (usesJestJunit || /\bjest-junit\b/.test(testScript)) {
    const options = asObject(manifest['jest-junit']);
    const directory = typeof options?.outputDirectory === 'string' ? options.outputDirectory : '.';
    const name = typeof options?.outputName === 'string' ? options.outputName : 'junit.xml';
    return plainOrUndefined(path.posix.normalize(path.posix.join(directory, name)));
  }
  for (const mocha of [asObject(mocharc), asObject(manifest.mocha)]) {
    if (mocha?.reporter !== 'mocha-junit-reporter') continue;
    const options = asObject(mocha.reporterOptions ?? mocha['reporter-option']);
    const file = typeof options?.mochaFile === 'string' ? options.mochaFile : 'test-results.xml';
    return plainOrUndefined(path.posix.normalize(file));
  }
  if (/--reporter[= ]junit\b/.test(testScript)) {
    const output = /--outputFile(?:\.junit)?[= ](\S+)/.exec(testScript);
    if (output?.[1]) return plainOrUndefined(path.posix.normalize(output[1].replace(/^['"]|['"]$/g, '')));
  }
  return undefined;
}

/** pytest.ini, a [tool.pytest...] table, a [tool:pytest] or tox [pytest] section, conftest.py, or test_*.py under tests/. */
async function isPytestProject(workspace: string): Promise<boolean> {
  if ((await isFile(workspace, 'pytest.ini')) || (await isFile(workspace, 'conftest.py'))) return true;
  if (/^\s*\[tool\.pytest[.\]]/m.test((await readProjectFile(workspace, 'pyproject.toml')) ?? '')) return true;
  if (/^\s*\[tool:pytest\]/m.test((await readProjectFile(workspace, 'setup.cfg')) ?? '')) return true;
  if (/^\s*\[pytest\]/m.test((await readProjectFile(workspace, 'tox.ini')) ?? '')) return true;
  return hasPytestFiles(path.join(workspace, 'tests'), 3, { left: 2000 });
}

/** Whether a folder holds test_*.py or *_test.py, a few levels deep at most and within an entry budget. */
async function hasPytestFiles(folder: string, depth: number, budget: { left: number }): Promise<boolean> {
  const entries = await fs.readdir(folder, { withFileTypes: true }).catch(() => []);
  for (const entry of entries) {
    if (--budget.left < 0) return false;
    if (entry.isFile() && /^(test_.*|.*_test)\.py$/.test(entry.name)) return true;
  }
  if (depth <= 1) return false;
  for (const entry of entries) {
    if (entry.isDirectory() && !entry.name.startsWith('.') && (await hasPytestFiles(path.join(folder, entry.name), depth - 1, budget))) return true;
  }
  return false;
}

async function isFile(workspace: string, name: string): Promise<boolean> {
  return (await fs.stat(path.join(workspace, name)).catch(() => undefined))?.isFile() ?? false;
}

/** A file at the workspace root, or undefined when absent, unreadable or too large to be a project file. */
async function readProjectFile(workspace: string, name: string): Promise<string | undefined> {
  const file = path.join(workspace, name);
  const stats = await fs.stat(file).catch(() => undefined);
  if (!stats?.isFile() || stats.size > MAX_PROJECT_FILE_BYTES) return undefined;
  return fs.readFile(file, 'utf8').catch(() => undefined);
}

function parseJson(text: string | undefined): unknown {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined; // A broken project file: its tests cannot be told, the same as none.
  }
}

function asObject(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

function plainOrUndefined(relative: string): string | undefined {
  const plain = relative.replace(/^\.\//, '');
  return plain.split('/').every((part) => part !== '' && part !== '.' && part !== '..') && !/[\u0000-\u001f\\]/.test(plain) ? plain : undefined;
}
