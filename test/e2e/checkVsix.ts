import { readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { inflateRawSync } from 'node:zlib';

/**
 * Checks a packaged .vsix: only the bundles, the image recipes, the icons, the JSON schemas and the manifest files
 * are inside (no sources, tests, source maps or node_modules), and it stays within the size
 * budget stated in docs/development.md.
 */
export const VSIX_BUDGET_BYTES = 2 * 1024 * 1024;

const ALLOWED = [
  /^\[Content_Types\]\.xml$/,
  /^extension\.vsixmanifest$/,
  /^extension\/(package\.json|readme\.md|changelog\.md|LICENSE\.txt)$/,
  /^extension\/dist\/(extension|core|cli|cliMain|otlp|viewer|dashboard)\.js$/,
  /^extension\/dist\/dashboard\.css$/,
  /^extension\/dist\/node-sqlite3-wasm\.wasm$/,
  /^extension\/images\/[\w./-]+$/,
  /^extension\/media\/[\w.-]+\.(svg|css|png)$/,
  /^extension\/schemas\/[\w.-]+\.schema\.json$/,
];
const REQUIRED = [
  'extension/package.json',
  'extension/dist/extension.js',
  'extension/dist/core.js',
  'extension/dist/cli.js',
  'extension/dist/cliMain.js',
  // The collector's OTLP exporter (OpenTelemetry's SDK), loaded by the CLI only when collector.json names an endpoint.
  'extension/dist/otlp.js',
  'extension/dist/viewer.js',
  'extension/media/viewer.css',
  // The dashboard's page (uPlot inside) and the collector store's WebAssembly SQLite, which the core bundle loads from its folder.
  'extension/dist/dashboard.js',
  'extension/dist/dashboard.css',
  'extension/dist/node-sqlite3-wasm.wasm',
  // The marketplace page: its icon, the README written for the Extensions view (not the repository's) and its screenshots, the changelog.
  'extension/media/icon.png',
  'extension/readme.md',
  'extension/changelog.md',
  'extension/images/sandbox/Dockerfile',
  'extension/images/desktop/Dockerfile',
  'extension/schemas/gates.schema.json',
];

interface ZipEntry {
  name: string;
  size: number;
  /** Where its local header starts. */
  offset: number;
  method: number;
  compressedSize: number;
}

/** Names and uncompressed sizes of a zip's entries, from its central directory. */
export function zipEntries(zip: Buffer): ZipEntry[] {
  const end = zip.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  if (end < 0) throw new Error('not a zip file: no end of central directory');
  const count = zip.readUInt16LE(end + 10);
  let offset = zip.readUInt32LE(end + 16);
  const entries: ZipEntry[] = [];
  for (let i = 0; i < count; i++) {
    if (zip.readUInt32LE(offset) !== 0x02014b50) throw new Error(`damaged central directory at entry ${i}`);
    const method = zip.readUInt16LE(offset + 10);
    const compressedSize = zip.readUInt32LE(offset + 20);
    const size = zip.readUInt32LE(offset + 24);
    const nameLength = zip.readUInt16LE(offset + 28);
    const extraLength = zip.readUInt16LE(offset + 30);
    const commentLength = zip.readUInt16LE(offset + 32);
    const local = zip.readUInt32LE(offset + 42);
    entries.push({ name: zip.subarray(offset + 46, offset + 46 + nameLength).toString('utf8'), size, offset: local, method, compressedSize });
    offset += 46 + nameLength + extraLength + commentLength;
  }
  return entries;
}

/** The content of one entry (stored or deflated). */
export function zipEntryContent(zip: Buffer, entry: ZipEntry): Buffer {
  const start = entry.offset + 30 + zip.readUInt16LE(entry.offset + 26) + zip.readUInt16LE(entry.offset + 28);
  const data = zip.subarray(start, start + entry.compressedSize);
  return entry.method === 0 ? Buffer.from(data) : inflateRawSync(data);
}

/** The screenshots the README shows: the view with a sandbox, and a desktop. */
const README_PICTURES = 2;

/**
 * The Extensions view's page: the README written for the extension's users (not the
 * repository's), whose every picture is inside it (that view loads images from https: and data:
 * only, and there is nowhere to serve them from), and a manifest with an icon that ships and no
 * invented repository.
 */
function marketplaceProblems(zip: Buffer, entries: ZipEntry[]): string[] {
  const problems: string[] = [];
  const byName = new Map(entries.map((entry) => [entry.name, entry]));
  const readme = byName.get('extension/readme.md');
  if (readme) {
    const text = zipEntryContent(zip, readme).toString('utf8');
    if (!text.includes("Install 'sandbox' Command in PATH"))
      problems.push('extension/readme.md is not the README written for the extension (docs/extension-readme.md)');
    const pictures = [...text.matchAll(/!\[[^\]]*\]\(([^)\s]+)\)/g)].map((match) => match[1]!);
    for (const link of pictures.filter((picture) => !picture.startsWith('data:image/png;base64,'))) {
      problems.push(`extension/readme.md shows ${link.slice(0, 80)}, which the Extensions view cannot load; inline it (extension-readme.mjs)`);
    }
    if (pictures.length < README_PICTURES) problems.push(`extension/readme.md shows ${pictures.length} pictures, not the ${README_PICTURES} screenshots`);
  }
  const manifestEntry = byName.get('extension/package.json');
  if (manifestEntry) {
    const manifest = JSON.parse(zipEntryContent(zip, manifestEntry).toString('utf8')) as { icon?: string; repository?: unknown };
    if (!manifest.icon || !byName.has(`extension/${manifest.icon}`)) problems.push(`the icon ${manifest.icon ?? '(none)'} is not packaged`);
    if (manifest.repository !== undefined) problems.push('package.json names a repository, and there is no public one');
  }
  return problems;
}

function main(file: string): void {
  const zip = readFileSync(file);
  const entries = zipEntries(zip);
  const problems: string[] = [];
  for (const entry of entries) {
    if (!ALLOWED.some((pattern) => pattern.test(entry.name))) problems.push(`${entry.name} should not be packaged`);
  }
  const names = new Set(entries.map((entry) => entry.name));
  for (const name of REQUIRED) if (!names.has(name)) problems.push(`${name} is missing`);
  problems.push(...marketplaceProblems(zip, entries));
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
