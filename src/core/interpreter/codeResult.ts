import { ERROR_NAME_CHARS, ERROR_VALUE_CHARS, MAX_IMAGE_BYTES, MAX_IMAGES, TEXT_CAP_CHARS } from './kernelScript';

/**
 * What one run of code in a sandbox's kernel gave, read from the kernel client's JSON line. That
 * line comes from inside the sandbox, so it is hostile: every field is checked, text is cut to
 * its cap with escape sequences removed, and an image is kept only if it is a PNG within the cap.
 */
export interface CodeResult {
  /** ok; error: the code raised; timeout: interrupted past its time; died: the kernel died under it. */
  status: 'ok' | 'error' | 'timeout' | 'died';
  executionCount?: number;
  stdout: string;
  stderr: string;
  /** The text of the last expression's value and of displayed objects without an image. */
  results: string;
  /** PNGs (figures), base64. */
  images: string[];
  /** Images left out for the cap on their number or size. */
  imagesDropped: number;
  error?: { name: string; value: string; traceback: string };
  /** Some text was cut at its cap. */
  truncated: boolean;
  /** A new kernel was started for this call because the earlier one had stopped: earlier state is gone. */
  kernelRestarted?: boolean;
}

/** The kernel client's answer when no kernel of ours runs in the sandbox. */
export const NO_KERNEL = 'no-kernel';
/** Its answer when the kernel runs but does not answer even on its control channel. */
export const UNRESPONSIVE = 'unresponsive';

/** CSI and OSC sequences (IPython colours its tracebacks), then any other escape. */
const ESCAPES = /\u001b\[[0-?]*[ -/]*[@-~]|\u001b\][^\u0007\u001b]*(?:\u0007|\u001b\\)|\u001b[@-~]?/g;
const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Text without terminal escapes, the other control characters but tab and newline dropped too. */
export function plainText(text: string): string {
  return text.replace(ESCAPES, '').replace(/[\u0000-\u0008\u000b-\u001f\u007f]/g, '');
}

function text(value: unknown): { text: string; cut: boolean } {
  if (typeof value !== 'string') return { text: '', cut: false };
  const cut = value.length > TEXT_CAP_CHARS;
  return { text: plainText(cut ? value.slice(0, TEXT_CAP_CHARS) : value), cut };
}

/** A base64 PNG within the cap, or undefined. */
export function checkedPng(value: unknown): string | undefined {
  if (typeof value !== 'string' || value.length > Math.ceil(MAX_IMAGE_BYTES / 3) * 4 || !BASE64.test(value)) return undefined;
  const bytes = Buffer.from(value, 'base64');
  return bytes.length > 24 && bytes.subarray(0, 8).equals(PNG_SIGNATURE) ? value : undefined;
}

/**
 * The kernel client's one line of JSON as a result: `NO_KERNEL` when no kernel runs,
 * `UNRESPONSIVE` when it does not answer, undefined when the line is not a result at all.
 */
export function parseCodeResult(stdout: string): CodeResult | typeof NO_KERNEL | typeof UNRESPONSIVE | undefined {
  let raw: unknown;
  try {
    raw = JSON.parse(stdout.trim().split('\n').at(-1) ?? '');
  } catch {
    return undefined;
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return undefined;
  const fields = raw as Record<string, unknown>;
  if (fields.status === NO_KERNEL || fields.status === UNRESPONSIVE) return fields.status;
  if (fields.status !== 'ok' && fields.status !== 'error' && fields.status !== 'timeout' && fields.status !== 'died') return undefined;
  const [stdoutText, stderrText, results] = [text(fields.stdout), text(fields.stderr), text(fields.results)];
  const givenImages = Array.isArray(fields.images) ? fields.images : [];
  const images = givenImages.slice(0, MAX_IMAGES).flatMap((image) => checkedPng(image) ?? []);
  const dropped = typeof fields.imagesDropped === 'number' && Number.isSafeInteger(fields.imagesDropped) ? Math.max(0, fields.imagesDropped) : 0;
  const result: CodeResult = {
    status: fields.status,
    stdout: stdoutText.text,
    stderr: stderrText.text,
    results: results.text,
    images,
    imagesDropped: dropped + givenImages.length - images.length,
    truncated: fields.truncated === true || stdoutText.cut || stderrText.cut || results.cut,
  };
  if (typeof fields.executionCount === 'number' && Number.isSafeInteger(fields.executionCount)) result.executionCount = fields.executionCount;
  const error = fields.error;
  if (typeof error === 'object' && error !== null) {
    const { name, value, traceback } = error as Record<string, unknown>;
    const tracebackText = text(traceback);
    result.error = { name: text(name).text.slice(0, ERROR_NAME_CHARS), value: text(value).text.slice(0, ERROR_VALUE_CHARS), traceback: tracebackText.text };
    result.truncated ||= tracebackText.cut;
  }
  return result;
}

/** The result as plain text, for a reader: the output, the value, then what went wrong. */
export function codeResultText(result: CodeResult): string {
  const parts: string[] = [];
  if (result.kernelRestarted) parts.push('[The kernel had stopped, so a new one was started: variables and imports of earlier calls are gone.]');
  if (result.stdout) parts.push(result.stdout.trimEnd());
  if (result.stderr) parts.push(`[stderr]\n${result.stderr.trimEnd()}`);
  if (result.results) parts.push(result.results.trimEnd());
  if (result.error) parts.push(result.error.traceback.trimEnd() || `${result.error.name}: ${result.error.value}`);
  if (result.status === 'timeout') parts.push('[The code ran past its timeout and was interrupted; the kernel keeps its state.]');
  if (result.status === 'died')
    parts.push('[The kernel died while running the code (out of memory, or the code ended it): its state is lost, and the next call starts a new one.]');
  if (result.images.length > 0) parts.push(`[${result.images.length} image${result.images.length === 1 ? '' : 's'} (PNG)]`);
  if (result.imagesDropped > 0)
    parts.push(`[${result.imagesDropped} image(s) left out: at most ${MAX_IMAGES} PNGs of up to ${MAX_IMAGE_BYTES / 1024 / 1024} MiB each are kept]`);
  if (result.truncated) parts.push(`[Output was cut at ${TEXT_CAP_CHARS / 1024} KiB per stream.]`);
  return parts.length > 0 ? parts.join('\n') : '(no output)';
}
