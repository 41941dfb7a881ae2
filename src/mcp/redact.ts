import { summarizeCommand } from '../core/events/types';

/** Arguments whose value is data, not a choice: file contents, text typed into a desktop, code to run. Only their size is told. */
const CONTENT_ARGUMENTS = new Set(['content', 'old_string', 'new_string', 'text', 'code']);
/** Argument names whose values may be credentials. */
const SECRET_NAME = /(pass(word)?|secret|token|api[-_]?key|auth|credential|private[-_]?key)/i;
/** Longest string value kept in a journalled argument. */
const VALUE_CHARS = 200;

export type JournalValue = string | number | boolean | null | string[];

function shortened(text: string): string {
  return text.length > VALUE_CHARS ? `${text.slice(0, VALUE_CHARS - 1)}…` : text;
}

/**
 * A tool call's arguments as the journal may keep them: names and values, except that contents
 * are told by size, env values and secret-named values are hidden, and commands are summarized
 * as exec events summarize them (assignments and password-like flags hidden).
 */
export function redactArguments(args: Record<string, unknown>): Record<string, JournalValue> {
  const kept: Record<string, JournalValue> = {};
  for (const [name, value] of Object.entries(args)) {
    if (value === undefined) continue;
    if (CONTENT_ARGUMENTS.has(name)) kept[name] = typeof value === 'string' ? `(${value.length} characters)` : '(elided)';
    else if (name === 'env') kept[name] = value && typeof value === 'object' ? Object.keys(value).map((key) => `${key}=***`) : '(elided)';
    else if (SECRET_NAME.test(name)) kept[name] = '***';
    else if (name === 'command' && (typeof value === 'string' || Array.isArray(value)))
      kept[name] = summarizeCommand(Array.isArray(value) ? value.map(String) : value);
    else kept[name] = plainValue(value);
  }
  return kept;
}

function plainValue(value: unknown): JournalValue {
  if (typeof value === 'string') return shortened(value);
  if (typeof value === 'number' || typeof value === 'boolean' || value === null) return value;
  if (Array.isArray(value)) return value.slice(0, 20).map((item) => shortened(typeof item === 'string' ? item : (JSON.stringify(item) ?? '')));
  return shortened(JSON.stringify(value) ?? '');
}
