import { readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';

/**
 * Checks a packaged .vsix: only the bundles, the image recipes, the icons, the JSON schemas and the manifest files
 * are inside (no sources, tests, source maps or node_modules), and it stays within the size
 * budget stated in docs/development.md.
 */
export const VSIX_BUDGET_BYTES = 1024 * 1024;

const ALLOWED = [
  /^\[Content_Types\]\.xml$/,
  /^extension\.vsixmanifest$/,
  /^extension\/(package\.json|readme\.md|LICENSE\.txt)$/,
  /^extension\/dist\/(extension|core|cli|viewer)\.js$/,
  /^extension\/images\/[\w./-]+$/,
  /^extension\/media\/[\w.-]+\.(svg|css)$/,
  /^extension\/schemas\/[\w.-]+\.schema\.json$/,
];
const REQUIRED = [
  'extension/package.json',
  'extension/dist/extension.js',
  'extension/dist/core.js',
  'extension/dist/cli.js',
  'extension/dist/viewer.js',
  'extension/media/viewer.css',
  'extension/images/sandbox/Dockerfile',
  'extension/images/desktop/Dockerfile',
  'extension/schemas/gates.schema.json',
];

/** Names and uncompressed sizes of a zip's entries, from its central directory. */
export function zipEntries(zip: Buffer): { name: string; size: number }[] {
  const end = zip.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  if (end < 0) throw new Error('not a zip file: no end of central directory');
  const count = zip.readUInt16LE(end + 10);
  let offset = zip.readUInt32LE(end + 16);
  const entries: { name: string; size: number }[] = [];
  for (let i = 0; i < count; i++) {
    if (zip.readUInt32LE(offset) !== 0x02014b50) throw new Error(`damaged central directory at entry ${i}`);
    const size = zip.readUInt32LE(offset + 24);
    const nameLength = zip.readUInt16LE(offset + 28);
    const extraLength = zip.readUInt16LE(offset + 30);
    const commentLength = zip.readUInt16LE(offset + 32);
    entries.push({ name: zip.subarray(offset + 46, offset + 46 + nameLength).toString('utf8'), size });
    offset += 46 + nameLength + extraLength + commentLength;
  }
  return entries;
}

function main(file: string): void {
  const entries = zipEntries(readFileSync(file));
  const problems: string[] = [];
  for (const entry of entries) {
    if (!ALLOWED.some((pattern) => pattern.test(entry.name))) problems.push(`${entry.name} should not be packaged`);
  }
  const names = new Set(entries.map((entry) => entry.name));
  for (const name of REQUIRED) if (!names.has(name)) problems.push(`${name} is missing`);
  const bytes = statSync(file).size;
  if (bytes > VSIX_BUDGET_BYTES) problems.push(`${path.basename(file)} is ${bytes} bytes, over the budget of ${VSIX_BUDGET_BYTES}`);
  if (problems.length > 0) {
    console.error(`The .vsix fails its check:\n- ${problems.join('\n- ')}`);
    process.exit(1);
  }
  console.log(
    `${path.basename(file)}: ${entries.length} files, ${(bytes / 1024).toFixed(0)} KiB of a ${VSIX_BUDGET_BYTES / 1024} KiB budget; no sources, tests, maps or node_modules`,
  );
}

if (require.main === module) main(process.argv[2] ?? 'agent-sandboxes.vsix');
