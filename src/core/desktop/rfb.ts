import type { Duplex } from 'node:stream';
import { SandboxError } from '../errors';

/** One frame of a desktop: RGB, 3 bytes per pixel, rows top to bottom. */
export interface Frame {
  width: number;
  height: number;
  rgb: Buffer;
  /** The desktop's name as its VNC server gives it. */
  name: string;
}

/** Reads exact byte counts from a stream, in order. */
class ExactReader {
  private buffered: Buffer = Buffer.alloc(0);
  private waiting?: { size: number; resolve: (data: Buffer) => void; reject: (error: Error) => void };
  private failure?: Error;

  constructor(stream: Duplex) {
    stream.on('data', (data: Buffer) => {
      this.buffered = this.buffered.length ? Buffer.concat([this.buffered, data]) : data;
      this.settle();
    });
    const end = (error?: Error) => {
      this.failure ??= error ?? new Error('the VNC server closed the connection');
      this.settle();
    };
    stream.on('end', () => end());
    stream.on('close', () => end());
    stream.on('error', end);
  }

  read(size: number): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      this.waiting = { size, resolve, reject };
      this.settle();
    });
  }

  private settle(): void {
    const waiting = this.waiting;
    if (!waiting) return;
    if (this.buffered.length >= waiting.size) {
      this.waiting = undefined;
      const data = this.buffered.subarray(0, waiting.size);
      this.buffered = this.buffered.subarray(waiting.size);
      waiting.resolve(data);
    } else if (this.failure) {
      this.waiting = undefined;
      waiting.reject(this.failure);
    }
  }
}

/**
 * Takes one full frame from a VNC server (RFB 3.8, no authentication: the server listens on
 * the sandbox's own loopback and is reached only inside SSH), in raw 32-bit pixels.
 */
export async function captureFrame(stream: Duplex, options: { timeoutMs?: number } = {}): Promise<Frame> {
  // The sandbox is not trusted: a server that stalls is given up on, and no size it sends is
  // believed beyond what the screen it announced can hold.
  const timer = setTimeout(() => stream.destroy(new Error(`no full frame within ${(options.timeoutMs ?? 20_000) / 1000} s`)), options.timeoutMs ?? 20_000);
  try {
    return await readFrame(stream);
  } catch (error) {
    if (error instanceof SandboxError) throw error;
    throw new SandboxError('provider-error', `Could not read the sandbox's desktop (${(error as Error).message}); check it with \`sandbox logs\`.`);
  } finally {
    clearTimeout(timer);
  }
}

const MAX_NAME_BYTES = 4096;
const MAX_PIXELS = 7680 * 4320;

async function readFrame(stream: Duplex): Promise<Frame> {
  const reader = new ExactReader(stream);
  const fail = (why: string) => new SandboxError('provider-error', `The sandbox's VNC server ${why}; check its desktop with \`sandbox logs\`.`);

  const version = (await reader.read(12)).toString('latin1');
  if (!/^RFB 003\.\d{3}\n$/.test(version)) throw fail(`answered "${version.trim()}" instead of a VNC greeting`);
  stream.write('RFB 003.008\n');
  const count = (await reader.read(1))[0]!;
  if (count === 0) {
    const length = (await reader.read(4)).readUInt32BE(0);
    throw fail(`refused the connection (${(await reader.read(length)).toString('utf8')})`);
  }
  const types = [...(await reader.read(count))];
  if (!types.includes(1)) throw fail(`asks for a password (security types ${types.join(', ')})`);
  stream.write(Buffer.from([1]));
  if ((await reader.read(4)).readUInt32BE(0) !== 0) throw fail('refused the connection');
  stream.write(Buffer.from([1])); // shared: never push the agent's own viewers off

  const init = await reader.read(24);
  const width = init.readUInt16BE(0);
  const height = init.readUInt16BE(2);
  if (width === 0 || height === 0 || width * height > MAX_PIXELS) throw fail(`announced a ${width}x${height} screen`);
  const nameLength = init.readUInt32BE(20);
  if (nameLength > MAX_NAME_BYTES) throw fail(`announced a ${nameLength}-byte desktop name`);
  const name = (await reader.read(nameLength)).toString('utf8');

  // 32 bits per pixel, little-endian, 8 bits per channel at shifts 16/8/0: B G R x in memory.
  const pixelFormat = Buffer.from([0, 0, 0, 0, 32, 24, 0, 1, 0, 255, 0, 255, 0, 255, 16, 8, 0, 0, 0, 0]);
  const encodings = Buffer.from([2, 0, 0, 1, 0, 0, 0, 0]); // raw only
  const request = Buffer.alloc(10);
  request[0] = 3;
  request[1] = 0; // not incremental: the whole screen
  request.writeUInt16BE(width, 6);
  request.writeUInt16BE(height, 8);
  stream.write(Buffer.concat([pixelFormat, encodings, request]));

  const rgb = Buffer.alloc(width * height * 3);
  let covered = 0;
  while (covered < width * height) {
    const type = (await reader.read(1))[0]!;
    if (type === 0) {
      const rects = (await reader.read(3)).readUInt16BE(1);
      for (let r = 0; r < rects; r++) {
        const header = await reader.read(12);
        const x = header.readUInt16BE(0);
        const y = header.readUInt16BE(2);
        const w = header.readUInt16BE(4);
        const h = header.readUInt16BE(6);
        const encoding = header.readInt32BE(8);
        if (encoding !== 0) throw fail(`sent encoding ${encoding} though only raw pixels were asked for`);
        if (x + w > width || y + h > height) throw fail(`sent a rectangle outside its ${width}x${height} screen`);
        const pixels = await reader.read(w * h * 4);
        for (let row = 0; row < h; row++) {
          for (let col = 0; col < w; col++) {
            const from = (row * w + col) * 4;
            const to = ((y + row) * width + (x + col)) * 3;
            rgb[to] = pixels[from + 2]!;
            rgb[to + 1] = pixels[from + 1]!;
            rgb[to + 2] = pixels[from]!;
          }
        }
        covered += w * h;
      }
      // An update that left part of the screen out: ask for the whole screen again.
      if (covered < width * height) stream.write(request);
    } else if (type === 1) {
      const header = await reader.read(5);
      await reader.read(header.readUInt16BE(3) * 6);
    } else if (type === 2) {
      // bell
    } else if (type === 3) {
      const header = await reader.read(7);
      await reader.read(header.readUInt32BE(3));
    } else {
      throw fail(`sent message type ${type}, which this client does not know`);
    }
  }
  return { width, height, rgb, name };
}
