import { inflateSync } from 'node:zlib';

/** An image as RGB, 3 bytes per pixel, rows top to bottom (the shape of the core's desktop frames). */
export interface RgbImage {
  width: number;
  height: number;
  rgb: Buffer;
}

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

function paeth(left: number, up: number, upLeft: number): number {
  const estimate = left + up - upLeft;
  const toLeft = Math.abs(estimate - left);
  const toUp = Math.abs(estimate - up);
  const toUpLeft = Math.abs(estimate - upLeft);
  if (toLeft <= toUp && toLeft <= toUpLeft) return left;
  return toUp <= toUpLeft ? up : upLeft;
}

/**
 * Decodes the PNGs these tests meet: a canvas's toDataURL (RGBA) and the core's screenshots
 * (RGB); 8 bits per channel, not interlaced, any of the five row filters. Alpha is dropped.
 */
export function decodePng(png: Buffer): RgbImage {
  if (!png.subarray(0, 8).equals(SIGNATURE)) throw new Error('not a PNG (bad signature)');
  let offset = 8;
  let header: Buffer | undefined;
  const data: Buffer[] = [];
  while (offset < png.length) {
    const length = png.readUInt32BE(offset);
    const type = png.toString('ascii', offset + 4, offset + 8);
    const body = png.subarray(offset + 8, offset + 8 + length);
    if (type === 'IHDR') header = body;
    else if (type === 'IDAT') data.push(body);
    else if (type === 'IEND') break;
    offset += 12 + length;
  }
  if (!header) throw new Error('a PNG without IHDR');
  const width = header.readUInt32BE(0);
  const height = header.readUInt32BE(4);
  const [depth, colourType, , , interlace] = [header[8], header[9], header[10], header[11], header[12]];
  if (depth !== 8 || interlace !== 0 || (colourType !== 2 && colourType !== 6)) {
    throw new Error(`unsupported PNG: depth ${depth}, colour type ${colourType}, interlace ${interlace}`);
  }
  const channels = colourType === 6 ? 4 : 3;
  const stride = width * channels;
  const raw = inflateSync(Buffer.concat(data));
  if (raw.length < (stride + 1) * height) throw new Error(`PNG data too short: ${raw.length} bytes for ${width}x${height}`);
  const pixels = Buffer.alloc(stride * height);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    const row = y * stride;
    const source = y * (stride + 1) + 1;
    for (let x = 0; x < stride; x++) {
      const value = raw[source + x]!;
      const left = x >= channels ? pixels[row + x - channels]! : 0;
      const up = y > 0 ? pixels[row - stride + x]! : 0;
      const upLeft = y > 0 && x >= channels ? pixels[row - stride + x - channels]! : 0;
      let predicted: number;
      switch (filter) {
        case 0:
          predicted = 0;
          break;
        case 1:
          predicted = left;
          break;
        case 2:
          predicted = up;
          break;
        case 3:
          predicted = (left + up) >> 1;
          break;
        case 4:
          predicted = paeth(left, up, upLeft);
          break;
        default:
          throw new Error(`unknown PNG filter ${filter} on row ${y}`);
      }
      pixels[row + x] = (value + predicted) & 0xff;
    }
  }
  if (channels === 3) return { width, height, rgb: pixels };
  const rgb = Buffer.alloc(width * height * 3);
  for (let i = 0, j = 0; i < pixels.length; i += 4, j += 3) {
    rgb[j] = pixels[i]!;
    rgb[j + 1] = pixels[i + 1]!;
    rgb[j + 2] = pixels[i + 2]!;
  }
  return { width, height, rgb };
}

export function decodePngDataUrl(dataUrl: string): RgbImage {
  const match = /^data:image\/png;base64,(.*)$/s.exec(dataUrl);
  if (!match) throw new Error(`not a PNG data URL: ${dataUrl.slice(0, 40)}…`);
  return decodePng(Buffer.from(match[1]!, 'base64'));
}

/** Offsets (in pixels) of an even spread of about `count` pixels over the image. */
function samples(image: RgbImage, count: number): number[] {
  const total = image.width * image.height;
  // A step prime to the width, so the samples do not line up in a few columns.
  const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
  let step = Math.max(1, Math.floor(total / count));
  while (step > 1 && gcd(step, image.width) !== 1) step--;
  const offsets: number[] = [];
  for (let pixel = Math.floor(step / 2); pixel < total; pixel += step) offsets.push(pixel);
  return offsets;
}

/** How many different colours a spread of `count` pixels shows: 1 for a blank screen. */
export function distinctColours(image: RgbImage, count = 4000): number {
  return new Set(samples(image, count).map((pixel) => image.rgb.readUIntBE(pixel * 3, 3))).size;
}

/** Mean absolute difference per channel (0-255) of two same-sized images, over a spread of `count` pixels. */
export function meanDifference(a: RgbImage, b: RgbImage, count = 4000): number {
  if (a.width !== b.width || a.height !== b.height) throw new Error(`sizes differ: ${a.width}x${a.height} and ${b.width}x${b.height}`);
  const offsets = samples(a, count);
  let sum = 0;
  for (const pixel of offsets) {
    for (let channel = 0; channel < 3; channel++) sum += Math.abs(a.rgb[pixel * 3 + channel]! - b.rgb[pixel * 3 + channel]!);
  }
  return sum / (offsets.length * 3);
}

/** The share (0-1) of a spread of `count` pixels within `tolerance` of a colour in every channel. */
export function shareOfColour(image: RgbImage, colour: [number, number, number], tolerance = 40, count = 4000): number {
  const offsets = samples(image, count);
  const near = offsets.filter((pixel) => colour.every((value, channel) => Math.abs(image.rgb[pixel * 3 + channel]! - value) <= tolerance));
  return near.length / offsets.length;
}
