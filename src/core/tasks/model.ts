import { SandboxError } from '../errors';
import type { GateLevel, GatePhase } from '../gates/types';

/** A unit of work for one sandbox, and what became of it. See docs/tasks.md. */

export const TASK_PRIORITIES = ['critical', 'high', 'normal', 'low'] as const;
export type TaskPriority = (typeof TASK_PRIORITIES)[number];

export const TASK_STATES = ['queued', 'assigned', 'running', 'succeeded', 'failed', 'cancelled'] as const;
export type TaskState = (typeof TASK_STATES)[number];

export const FINISHED_STATES: readonly TaskState[] = ['succeeded', 'failed', 'cancelled'];

export const DEFAULT_PROFILE_NAME = 'default';
export const DEFAULT_MAX_ATTEMPTS = 2;
/** The most attempts a task may have, retries included. */
export const MAX_ATTEMPTS = 20;
/** The environment variable that carries a task's idempotency key into its command. */
export const IDEMPOTENCY_ENV = 'SANDBOX_TASK_KEY';
export const TASK_ID_ENV = 'SANDBOX_TASK_ID';
export const TASK_ATTEMPT_ENV = 'SANDBOX_TASK_ATTEMPT';

/** What a task asks for: everything given when it is added. */
export interface TaskSpec {
  title?: string;
  priority: TaskPriority;
  /** Who asked for it (an agent's name, or `cli`). */
  agentId?: string;
  /** argv, run directly, or a shell string, run by `sh -c`. A script file is read into a shell string when added. */
  command: string[] | string;
  /** A local folder (absolute) pushed into the sandbox's workspace before the command runs. */
  workspace?: string;
  /** The profile, and so the warm pool, the task's sandbox comes from. */
  profile: string;
  env?: Record<string, string>;
  timeoutMs?: number;
  /** How many times the task may be placed in all: more than 1 lets it move on when its machine fails. */
  maxAttempts: number;
  /** Visible to the command as SANDBOX_TASK_KEY; a second task added with the same key is the same task. */
  idempotencyKey?: string;
  /** Keep the sandbox when the task ends (it is destroyed otherwise). */
  keep?: boolean;
  /** A local folder the sandbox's workspace is pulled into when the task succeeds. */
  resultDir?: string;
  /**
   * The workspace's quality gates judge the change before it reaches the workspace (docs/gates.md);
   * on by default when the workspace has `.sandboxes/gates.json`.
   */
  gates?: boolean;
  /**
   * Tasks that race for one result (best of N): the first change of the group to pass its gates
   * is applied, the others are cancelled or rolled back.
   */
  group?: string;
}

export interface TaskGate {
  attempt: number;
  phase: GatePhase;
  level?: GateLevel;
  reason?: string;
  /** A person's decision on a change waiting for review. */
  review?: { decision: 'approve' | 'reject'; note?: string; time: string };
}

/** Why an attempt ended. */
export type AttemptEnd =
  | 'exited' // the command ended by itself (its exit code says how)
  | 'timed-out'
  | 'cancelled'
  | 'sandbox-lost' // the sandbox died, was removed or restarted under the command
  | 'machine-unreachable' // its machine stopped answering for longer than the grace period
  | 'out-of-memory'
  | 'launch-failed'; // the sandbox could not be made or the command could not be started

export interface TaskAttempt {
  number: number;
  sandboxId?: string;
  sandboxName?: string;
  /** The machine it was placed on: `docker` or `ssh:<host>`. */
  placement?: string;
  /** Whether its sandbox came warm from the pool. */
  warm?: boolean;
  assignedAt: string;
  startedAt?: string;
  endedAt?: string;
  exitCode?: number | null;
  signal?: string;
  end?: AttemptEnd;
  /** In one sentence, when the end was not a plain exit. */
  reason?: string;
}

export interface Task extends TaskSpec {
  id: string;
  state: TaskState;
  createdAt: string;
  updatedAt: string;
  attempts: TaskAttempt[];
  /** A cancel was asked for while the task was placed; the scheduler is ending it. */
  cancelRequested?: boolean;
  /** Why it failed or was cancelled, in one sentence. */
  reason?: string;
  /** The gates' view of the current or last attempt's change. */
  gate?: TaskGate;
}

export function isFinished(state: TaskState): boolean {
  return FINISHED_STATES.includes(state);
}

export function isPriority(value: unknown): value is TaskPriority {
  return typeof value === 'string' && (TASK_PRIORITIES as readonly string[]).includes(value);
}

export function currentAttempt(task: Task): TaskAttempt | undefined {
  const last = task.attempts[task.attempts.length - 1];
  return last && last.end === undefined ? last : undefined;
}

const MAX_COMMAND_BYTES = 256 * 1024;
const MAX_TITLE = 200;
const PROFILE_NAME = /^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Checks a task as an attacker might write it (a queue line from another tool is such input):
 * one sentence naming the field when it is wrong. Returns the spec with defaults filled in.
 */
export function normalizeSpec(input: Record<string, unknown>): TaskSpec {
  const fail = (message: string): never => {
    throw new SandboxError('invalid-input', message);
  };
  const command = input.command;
  if (typeof command === 'string') {
    if (command.trim() === '') fail('The task has an empty command; give the command to run.');
  } else if (Array.isArray(command)) {
    if (command.length === 0 || typeof command[0] !== 'string' || command[0] === '') fail('The task has an empty command; give the command to run.');
    if (!command.every((arg) => typeof arg === 'string')) fail("Every argument of the task's command must be a string.");
  } else {
    fail('The task has no command; give "command" as a string or a list of strings.');
  }
  if (Buffer.byteLength(JSON.stringify(command)) > MAX_COMMAND_BYTES) fail("The task's command is longer than 256 KiB; put it in a script in the workspace.");
  const priority = input.priority ?? 'normal';
  if (!isPriority(priority)) fail(`The priority "${String(priority)}" is not one of ${TASK_PRIORITIES.join(', ')}.`);
  const profile = input.profile ?? DEFAULT_PROFILE_NAME;
  if (typeof profile !== 'string' || !PROFILE_NAME.test(profile))
    fail(`The profile "${String(profile)}" is not a profile name (lower-case letters, digits and dashes).`);
  const title = input.title;
  if (title !== undefined && (typeof title !== 'string' || title.length > MAX_TITLE)) fail(`The title must be text of at most ${MAX_TITLE} characters.`);
  const workspace = input.workspace;
  if (workspace !== undefined && (typeof workspace !== 'string' || !workspace.startsWith('/'))) fail('The workspace must be an absolute local path.');
  const resultDir = input.resultDir;
  if (resultDir !== undefined && (typeof resultDir !== 'string' || !resultDir.startsWith('/'))) fail('The result folder must be an absolute local path.');
  const env = input.env ?? undefined;
  if (env !== undefined) {
    if (typeof env !== 'object' || env === null || Array.isArray(env)) fail("The task's env must be an object of names to strings.");
    for (const [key, value] of Object.entries(env as Record<string, unknown>)) {
      if (!ENV_NAME.test(key) || typeof value !== 'string') fail(`The env entry "${key}" must be a variable name with a string value.`);
      if (key.startsWith('SANDBOX_')) fail(`The env name "${key}" is kept for the product (names starting with SANDBOX_); pick another.`);
    }
  }
  const timeout = input.timeout ?? input.timeoutMs;
  if (timeout !== undefined && (typeof timeout !== 'number' || !Number.isFinite(timeout) || timeout <= 0))
    fail('The timeout must be a positive number of milliseconds.');
  const attempts = input.attempts ?? input.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;
  if (typeof attempts !== 'number' || !Number.isInteger(attempts) || attempts < 1 || attempts > 20)
    fail('The number of attempts must be a whole number from 1 to 20.');
  const key = input.idempotencyKey;
  if (key !== undefined && (typeof key !== 'string' || key === '' || key.length > 200)) fail('The idempotency key must be text of 1 to 200 characters.');
  const agentId = input.agentId;
  if (agentId !== undefined && (typeof agentId !== 'string' || agentId.length > 100)) fail('The agent id must be text of at most 100 characters.');
  // Plain assignments, not spreads: a 100,000-line queue folds this for every line.
  const spec: TaskSpec = {
    command: command as string[] | string,
    priority: priority as TaskPriority,
    profile: profile as string,
    maxAttempts: attempts as number,
  };
  if (title !== undefined) spec.title = title as string;
  if (agentId !== undefined) spec.agentId = agentId as string;
  if (workspace !== undefined) spec.workspace = workspace as string;
  if (resultDir !== undefined) spec.resultDir = resultDir as string;
  if (env !== undefined) spec.env = env as Record<string, string>;
  if (timeout !== undefined) spec.timeoutMs = timeout as number;
  if (key !== undefined) spec.idempotencyKey = key as string;
  if (input.keep === true) spec.keep = true;
  if (input.gates !== undefined && typeof input.gates !== 'boolean') fail('"gates" must be true or false.');
  const group = input.group;
  if (group !== undefined && (typeof group !== 'string' || group === '' || group.length > 100)) fail('The group must be text of 1 to 100 characters.');
  if (group !== undefined) spec.group = group as string;
  if (input.gates !== undefined) spec.gates = input.gates as boolean;
  if (spec.gates && !spec.workspace) fail('A task with gates needs a workspace: the gates judge the change to it.');
  return spec;
}

/** The command as one line for lists and titles. */
export function describeCommand(command: string[] | string): string {
  const text = typeof command === 'string' ? command : command.join(' ');
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
