import { deflateSync, inflateSync } from 'node:zlib';

/**
 * Shrinks a screenshot to a 256-colour PNG, with nothing but node:zlib: the README's pictures
 * ship inside the .vsix, whose size has a budget. Colours are taken by popularity (a UI has few
 * that matter), each pixel mapped to the nearest one.
 */

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

interface Rgb {
  width: number;
  height: number;
  /** Three bytes a pixel, row after row. */
  pixels: Buffer;
}

/** Decodes an 8-bit RGB or RGBA PNG without interlacing (what Chromium's screenshots are); alpha is dropped. */
export function decodePng(png: Buffer): Rgb {
  if (!png.subarray(0, 8).equals(SIGNATURE)) throw new Error('not a PNG file');
  let offset = 8;
  let width = 0;
  let height = 0;
  let channels = 0;
  const data: Buffer[] = [];
  while (offset < png.length) {
    const length = png.readUInt32BE(offset);
    const type = png.toString('latin1', offset + 4, offset + 8);
    const body = png.subarray(offset + 8, offset + 8 + length);
    if (type === 'IHDR') {
      width = body.readUInt32BE(0);
      height = body.readUInt32BE(4);
      const [depth, colour, , , interlace] = [body[8], body[9], body[10], body[11], body[12]];
      if (depth !== 8 || (colour !== 2 && colour !== 6) || interlace !== 0) throw new Error('only 8-bit RGB or RGBA PNGs without interlacing are read here');
      channels = colour === 2 ? 3 : 4;
    } else if (type === 'IDAT') data.push(body);
    offset += 12 + length;
  }
  const raw = inflateSync(Buffer.concat(data));
  const stride = width * channels;
  const pixels = Buffer.alloc(width * height * 3);
  let prior = Buffer.alloc(stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)]!;
    const row = Buffer.from(raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1)));
    for (let i = 0; i < stride; i++) {
      const left = i >= channels ? row[i - channels]! : 0;
      const up = prior[i]!;
      const upLeft = i >= channels ? prior[i - channels]! : 0;
      let add = 0;
      if (filter === 1) add = left;
      else if (filter === 2) add = up;
      else if (filter === 3) add = (left + up) >> 1;
      else if (filter === 4) {
        const p = left + up - upLeft;
        const [pa, pb, pc] = [Math.abs(p - left), Math.abs(p - up), Math.abs(p - upLeft)];
        add = pa <= pb && pa <= pc ? left : pb <= pc ? up : upLeft;
      }
      row[i] = (row[i]! + add) & 0xff;
    }
    for (let x = 0; x < width; x++) row.copy(pixels, (y * width + x) * 3, x * channels, x * channels + 3);
    prior = row;
  }
  return { width, height, pixels };
}

function chunk(type: string, body: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(body.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), body])), 0);
  return Buffer.concat([head, body, crc]);
}

let crcTable: Uint32Array | undefined;
function crc32(bytes: Buffer): number {
  crcTable ??= Uint32Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  let crc = 0xffffffff;
  for (const byte of bytes) crc = crcTable[(crc ^ byte) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/** The same picture in at most 256 colours, as a palette PNG. */
export function toPng8(png: Buffer): Buffer {
  const { width, height, pixels } = decodePng(png);
  // Colours bucketed to 5 bits a channel; the most frequent buckets become the palette.
  const bucketOf = (i: number) => ((pixels[i]! >> 3) << 10) | ((pixels[i + 1]! >> 3) << 5) | (pixels[i + 2]! >> 3);
  const count = new Uint32Array(32768);
  const sums = new Float64Array(32768 * 3);
  for (let i = 0; i < pixels.length; i += 3) {
    const bucket = bucketOf(i);
    count[bucket]!++;
    for (let c = 0; c < 3; c++) sums[bucket * 3 + c]! += pixels[i + c]!;
  }
  const chosen = [...count.keys()]
    .filter((bucket) => count[bucket]! > 0)
    .sort((a, b) => count[b]! - count[a]!)
    .slice(0, 256);
  const palette = chosen.map((bucket) => [0, 1, 2].map((c) => Math.round(sums[bucket * 3 + c]! / count[bucket]!)));
  const nearest = new Int16Array(32768).fill(-1);
  const indexOf = (bucket: number): number => {
    if (nearest[bucket]! >= 0) return nearest[bucket]!;
    const [r, g, b] = [((bucket >> 10) << 3) + 4, (((bucket >> 5) & 31) << 3) + 4, ((bucket & 31) << 3) + 4];
    let best = 0;
    let bestDistance = Infinity;
    palette.forEach(([pr, pg, pb], index) => {
      const distance = (pr! - r) ** 2 * 3 + (pg! - g) ** 2 * 4 + (pb! - b) ** 2 * 2;
      if (distance < bestDistance) [best, bestDistance] = [index, distance];
    });
    nearest[bucket] = best;
    return best;
  };
  const raw = Buffer.alloc((width + 1) * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) raw[y * (width + 1) + 1 + x] = indexOf(bucketOf((y * width + x) * 3));
  }
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 8;
  header[9] = 3;
  return Buffer.concat([
    SIGNATURE,
    chunk('IHDR', header),
    chunk('PLTE', Buffer.from(palette.flat())),
    chunk('IDAT', deflateSync(raw, { level: 9 })),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}
