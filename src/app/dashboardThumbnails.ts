import { captureDesktop, type DesktopSandboxes } from '../core/desktop';
import { encodePng } from '../core/desktop/png';
import type { Frame } from '../core/desktop/rfb';
import { describeError } from '../core/errors';

export type ThumbnailSandboxes = DesktopSandboxes;

/** A thumbnail's width at most (px): small enough to push every few seconds. */
const THUMBNAIL_WIDTH = 320;
/** One capture may take this long before it is given up. */
const CAPTURE_TIMEOUT_MS = 10_000;

export interface Thumbnail {
  png: Buffer;
  /** Increases with each new picture (a page reloads the image when it changes). */
  version: number;
}

/** A frame scaled down to at most `width` pixels across (nearest neighbour: a thumbnail needs no more). */
export function scaleFrame(frame: Pick<Frame, 'width' | 'height' | 'rgb'>, width: number): { width: number; height: number; rgb: Buffer } {
  if (frame.width <= width) return frame;
  const height = Math.max(1, Math.round((frame.height * width) / frame.width));
  const rgb = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    const sourceRow = Math.floor((y * frame.height) / height) * frame.width;
    for (let x = 0; x < width; x++) {
      const source = (sourceRow + Math.floor((x * frame.width) / width)) * 3;
      const target = (y * width + x) * 3;
      rgb[target] = frame.rgb[source]!;
      rgb[target + 1] = frame.rgb[source + 1]!;
      rgb[target + 2] = frame.rgb[source + 2]!;
    }
  }
  return { width, height, rgb };
}

/**
 * Periodic small screenshots of the running desktops the dashboard shows, taken one after the
 * other over each sandbox's SSH connection (as `sandbox screenshot` takes them).
 */
export class DesktopThumbnails {
  private readonly thumbnails = new Map<string, Thumbnail>();
  private watched: string[] = [];
  private timer?: NodeJS.Timeout;
  private running = false;
  private stopped = false;
  private readonly abort = new AbortController();
  private version = 0;

  constructor(
    private readonly sandboxes: DesktopSandboxes,
    private readonly everyMs: number,
    private readonly log?: (line: string) => void,
  ) {}

  /** The desktops to keep pictures of; others are forgotten. */
  watch(sandboxIds: string[]): void {
    this.watched = sandboxIds;
    for (const id of this.thumbnails.keys()) if (!sandboxIds.includes(id)) this.thumbnails.delete(id);
    if (sandboxIds.length > 0 && !this.running && !this.timer && !this.stopped) void this.round();
  }

  get(sandboxId: string): Thumbnail | undefined {
    return this.thumbnails.get(sandboxId);
  }

  stop(): void {
    this.stopped = true;
    this.abort.abort();
    clearTimeout(this.timer);
  }

  private async round(): Promise<void> {
    this.running = true;
    for (const id of [...this.watched]) {
      if (this.stopped) break;
      const signal = AbortSignal.any([this.abort.signal, AbortSignal.timeout(CAPTURE_TIMEOUT_MS)]);
      try {
        const small = scaleFrame(await captureDesktop(this.sandboxes, id, signal), THUMBNAIL_WIDTH);
        if (this.watched.includes(id)) this.thumbnails.set(id, { png: encodePng(small.width, small.height, small.rgb), version: ++this.version });
      } catch (error) {
        if (!this.stopped) this.log?.(`Dashboard: no thumbnail of ${id}: ${describeError(error)}`);
      }
    }
    this.running = false;
    if (this.stopped || this.watched.length === 0) {
      this.timer = undefined;
      return;
    }
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.round();
    }, this.everyMs);
  }
}
