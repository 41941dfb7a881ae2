/** What the quality gates work with: test results, findings, the change a task made. See docs/gates.md. */

/** Where a gated task's change is: being checked, waiting for a person, or decided. */
export const GATE_PHASES = ['checking', 'review', 'applied', 'unchanged', 'failed', 'rejected', 'conflict'] as const;
export type GatePhase = (typeof GATE_PHASES)[number];
/** What stopped a change: its command, a gate, a person, or the merge into the workspace. */
export const GATE_LEVELS = ['command', 'L0', 'L1', 'L2', 'apply'] as const;
export type GateLevel = (typeof GATE_LEVELS)[number];

export type TestStatus = 'passed' | 'failed' | 'error' | 'skipped';

/** A place in the user's workspace: a path relative to its root (posix separators), 1-based line and column. */
export interface WorkspaceLocation {
  path: string;
  line: number;
  column?: number;
}

export interface TestCaseResult {
  /** Unique within a run and stable across runs (suite and name): what L1 compares by. */
  id: string;
  name: string;
  suite?: string;
  status: TestStatus;
  durationMs?: number;
  /** One line saying why it failed or was skipped. */
  message?: string;
  /** The failure's details (stack trace, captured output), capped. */
  output?: string;
  /** Where the failure points, when the report or its stack trace says and the file is in the workspace. */
  location?: WorkspaceLocation;
}

export const REPORT_FORMATS = ['junit', 'tap', 'go-json'] as const;
export type ReportFormat = (typeof REPORT_FORMATS)[number];

export interface TestReport {
  format: ReportFormat;
  tests: TestCaseResult[];
  /** What could not be read (a malformed line, an unknown element), in sentences. */
  problems: string[];
}

/** One lint finding, parsed from `path:line:column: message` lines (ESLint's unix format, ruff, flake8, go vet). */
export interface LintFinding {
  location: WorkspaceLocation;
  message: string;
  /** The check that printed it. */
  check: string;
}

/** One file a task changed, between the base (what was pushed) and what the sandbox holds after the task. */
export interface FileChange {
  /** Relative to the workspace root, posix separators, already checked to be plain. */
  path: string;
  kind: 'added' | 'modified' | 'deleted';
  /** What the new side is; absent when deleted. */
  type?: 'file' | 'symlink';
  /** Permission bits of the new side (no setuid, setgid or sticky bit: those are refused). */
  mode?: number;
  /** A symlink's target (relative, inside the workspace: others are refused). */
  linkTarget?: string;
  binary: boolean;
  addedLines: number;
  removedLines: number;
  /** For an added file whose content equals a deleted one: the path it came from. */
  renamedFrom?: string;
}

export interface PatchStats {
  files: number;
  addedLines: number;
  removedLines: number;
}

/**
 * A task's change: `changes` says what differs; the content of every added or modified entry is
 * read from `afterDir` (a local copy of the sandbox's workspace, already pulled safely), the base
 * content from `baseDir` (the local copy of what was pushed before the task ran).
 */
export interface Patch {
  baseDir: string;
  afterDir: string;
  changes: FileChange[];
  stats: PatchStats;
}
