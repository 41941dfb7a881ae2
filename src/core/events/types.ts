import type { SandboxErrorCode } from '../errors';
import type { ProviderKind } from '../model';

/**
 * What the core tells of a sandbox, as typed events. Each event is one member of `EventTypes`,
 * keyed by its `type`; later families (tasks, cost, gates) join by adding members there.
 *
 * Everything outside `localOnly` is safe to hand to other processes: it is written to the state
 * dir's events.jsonl. It never holds env values, command output or other secrets.
 */
interface EventBase<T extends string> {
  type: T;
  sandboxId: string;
  /** ISO time the event happened. */
  time: string;
}

/** The channel a command took: SSH, the exec agent inside a container, or the provider's plain exec. */
export type ExecChannel = 'ssh' | 'agent' | 'provider';

/** The machine exists (it may still be getting a folder copied in). */
export interface SandboxCreatedEvent extends EventBase<'sandbox.created'> {
  name: string;
  agentId: string;
  provider: ProviderKind;
  providerRef: string;
  image: string;
}

/** A create finished: the sandbox is running and its folder, if any, is in. */
export interface SandboxReadyEvent extends EventBase<'sandbox.ready'> {
  name: string;
  /** From the start of the create. */
  durationMs: number;
}

/** A create failed or was cancelled; whatever it had made is removed. */
export interface SandboxCreateFailedEvent extends EventBase<'sandbox.createFailed'> {
  name: string;
  provider: ProviderKind;
  errorCode?: SandboxErrorCode;
  error: string;
  durationMs: number;
}

export interface SandboxStartedEvent extends EventBase<'sandbox.started'> {
  name: string;
}

export interface SandboxStoppedEvent extends EventBase<'sandbox.stopped'> {
  name: string;
}

/** The machine and everything kept about it are gone. */
export interface SandboxDeletedEvent extends EventBase<'sandbox.deleted'> {
  name: string;
  provider: ProviderKind;
}

/** A snapshot was taken of the sandbox; new sandboxes can start from it. */
export interface SandboxSnapshottedEvent extends EventBase<'sandbox.snapshotted'> {
  name: string;
  snapshot: string;
  provider: ProviderKind;
  providerRef: string;
}

/** A machine of ours was found on a provider without a record, and taken in. */
export interface SandboxAdoptedEvent extends EventBase<'sandbox.adopted'> {
  name: string;
  provider: ProviderKind;
  providerRef: string;
}

/** A sandbox became unusable: its machine is gone, or its create was interrupted. */
export interface SandboxFailedEvent extends EventBase<'sandbox.failed'> {
  name: string;
  reason: 'lost' | 'interrupted';
  problem?: string;
}

/** What every exec event tells of its command. */
interface ExecFields {
  execId: string;
  /** The command, shortened; env values are never included. */
  command: string;
  channel: ExecChannel;
  user: string;
  cwd: string;
  /** Names of the env variables given; their values may be secrets. */
  envKeys?: string[];
}

export interface ExecStartedEvent extends EventBase<'exec.started'>, ExecFields {
  detached: boolean;
}

export interface ExecEndedEvent extends EventBase<'exec.ended'>, ExecFields {
  /** null when the command did not run to an exit (a signal, or it never started). */
  exitCode: number | null;
  signal?: string;
  durationMs: number;
  timedOut: boolean;
  cancelled: boolean;
  /** Set when the sandbox's memory limit killed a process while it ran. */
  outOfMemory?: string;
  /** Set when the command could not run at all. */
  errorCode?: SandboxErrorCode;
  error?: string;
  /** For subscribers in this process only (the journal); never written to events.jsonl. */
  localOnly?: ExecTranscript;
}

/** The full command and its (capped) output, as the sandbox's journal keeps them. */
export interface ExecTranscript {
  command: string[] | string;
  stdout: string;
  stderr: string;
  truncated: boolean;
}

export interface SyncEndedEvent extends EventBase<'sync.ended'> {
  direction: 'push' | 'pull';
  local: string;
  remote: string;
  files: number;
  bytes: number;
  deleted: number;
  durationMs: number;
  errorCode?: SandboxErrorCode;
  error?: string;
  /** For subscribers in this process only (the journal); never written to events.jsonl. */
  localOnly?: { details: Record<string, unknown> };
}

/** A task was given this sandbox (warm from the pool, or made for it). */
export interface TaskPlacedEvent extends EventBase<'task.placed'> {
  taskId: string;
  attempt: number;
  placement: string;
  warm: boolean;
  priority: string;
}

/** A task's command started under the supervisor in this sandbox. */
export interface TaskStartedEvent extends EventBase<'task.started'> {
  taskId: string;
  attempt: number;
}

/** A task's attempt in this sandbox ended, and what the task became. */
export interface TaskEndedEvent extends EventBase<'task.ended'> {
  taskId: string;
  attempt: number;
  /** Why the attempt ended (exited, timed-out, cancelled, sandbox-lost, machine-unreachable, out-of-memory, launch-failed). */
  end: string;
  next: 'succeeded' | 'failed' | 'cancelled' | 'queued';
  exitCode?: number | null;
  /** From placement to the end. */
  durationMs: number;
}

/**
 * A monthly budget alert fired (50%, 80% or 100% of the committed figure; once a month each).
 * `sandboxId` is the sandbox whose create or extension brought it, or '' when the daemon found it.
 */
export interface CostAlertEvent extends EventBase<'cost.alert'> {
  percent: 50 | 80 | 100;
  /** `2026-12` */
  month: string;
  budgetUsd: number;
  spentUsd: number;
  committedUsd: number;
  /** The alert in one sentence, as the CLI and VS Code show it. */
  message: string;
}

/** A cloud sandbox passed its time-to-live: the daemon destroys it (idle) or hibernates it (busy). Told before it acts. */
export interface CostExpiredEvent extends EventBase<'cost.expired'> {
  name: string;
  action: 'destroy' | 'hibernate';
  /** How long past its time-to-live, at the check. */
  overdueMs: number;
  reason: string;
}

/**
 * The gates decided about a task attempt's change (or stopped for a person: outcome `review`).
 * Told with figures only: what a test printed stays in the gates' result file.
 */
export interface GateResultEvent extends EventBase<'gate.result'> {
  taskId: string;
  attempt: number;
  /** The gate that stopped the change (its command, L0, L1, L2, or its apply); absent when every gate passed. */
  level?: 'command' | 'L0' | 'L1' | 'L2' | 'apply';
  /** The gates' phase after this result (src/core/gates/types.ts: GATE_PHASES but `checking`). */
  outcome: 'review' | 'applied' | 'unchanged' | 'failed' | 'rejected' | 'conflict';
  passed: boolean;
  /** From the gates' start to this result. */
  durationMs: number;
  /** Files changed, tests run and failed, regressions: `3 files (+10 -2); 12 tests, 1 failed; 0 regressions`. */
  summary: string;
}

/** Every event the bus carries, by type. New families add members here. */
/** A tool call of `sandbox mcp` ended; `sandboxId` is '' for a call on no one sandbox. */
export interface McpCallEvent extends EventBase<'mcp.call'> {
  tool: string;
  /** The arguments by name: contents told by size, env values and secret-named values hidden. */
  arguments: Record<string, string | number | boolean | null | string[]>;
  result: 'ok' | 'error';
  errorCode?: SandboxErrorCode;
  error?: string;
  durationMs: number;
}

export interface EventTypes {
  'sandbox.created': SandboxCreatedEvent;
  'sandbox.ready': SandboxReadyEvent;
  'sandbox.createFailed': SandboxCreateFailedEvent;
  'sandbox.started': SandboxStartedEvent;
  'sandbox.stopped': SandboxStoppedEvent;
  'sandbox.deleted': SandboxDeletedEvent;
  'sandbox.adopted': SandboxAdoptedEvent;
  'sandbox.snapshotted': SandboxSnapshottedEvent;
  'sandbox.failed': SandboxFailedEvent;
  'exec.started': ExecStartedEvent;
  'exec.ended': ExecEndedEvent;
  'sync.ended': SyncEndedEvent;
  'task.placed': TaskPlacedEvent;
  'task.started': TaskStartedEvent;
  'task.ended': TaskEndedEvent;
  'cost.alert': CostAlertEvent;
  'cost.expired': CostExpiredEvent;
  'mcp.call': McpCallEvent;
  'gate.result': GateResultEvent;
}

export type EventType = keyof EventTypes;
export type BusEvent = EventTypes[EventType];

type DistributiveOmit<T, K extends keyof never> = T extends unknown ? Omit<T, K> : never;

/** An event as an emitter writes it: the bus stamps the time unless one is given. */
export type EventInput = DistributiveOmit<BusEvent, 'time'> & { time?: string };

/** The longest command summary kept in an event. */
export const COMMAND_SUMMARY_CHARS = 200;

/** `NAME=value` (an env assignment) and `--password value` style arguments: their values are hidden. */
const ENV_ASSIGNMENT = /(^|[\s;&|(])([A-Z_][A-Z0-9_]*)=("[^"]*"|'[^']*'|\S+)/g;
const SECRET_FLAG = /(--?[\w-]*(?:password|passwd|token|secret|api-?key|auth)[\w-]*)(=|\s+)("[^"]*"|'[^']*'|\S+)/gi;
const AUTH_HEADER = /(authorization:\s*(?:bearer|basic|token)?\s*)\S+/gi;

/**
 * A command as one short line for events other processes read: argv joined with spaces, values of
 * env assignments and of password/token-like flags hidden, cut at COMMAND_SUMMARY_CHARS.
 */
export function summarizeCommand(command: string[] | string): string {
  const text = (Array.isArray(command) ? command.join(' ') : command)
    .replace(/\s+/g, ' ')
    .trim()
    .replace(ENV_ASSIGNMENT, '$1$2=***')
    .replace(SECRET_FLAG, '$1$2***')
    .replace(AUTH_HEADER, '$1***');
  return text.length > COMMAND_SUMMARY_CHARS ? `${text.slice(0, COMMAND_SUMMARY_CHARS - 1)}…` : text;
}

/** The event as other processes may see it: without its `localOnly` part. */
export function shareable(event: BusEvent): BusEvent {
  if (!('localOnly' in event) || event.localOnly === undefined) return event;
  const { localOnly: _dropped, ...rest } = event;
  return rest as BusEvent;
}
