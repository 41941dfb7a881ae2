// Writes dist/extension-readme.md, the README inside the .vsix (`vsce package --readme-path`), from
// docs/extension-readme.md with every picture inlined as a data: URL. The Extensions view shows an
// installed extension's README as it is, in a webview that loads images from https: and data: only,
// and there is no public address to serve them from.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';

const source = 'docs/extension-readme.md';
const target = 'dist/extension-readme.md';
const text = readFileSync(source, 'utf8').replace(/!\[([^\]]*)\]\(([^)\s]+)\)/g, (whole, alt, link) => {
  if (/^\w+:/.test(link)) throw new Error(`${source} shows ${link}: only pictures of this repository can be inlined`);
  if (!link.endsWith('.png')) throw new Error(`${source} shows ${link}: only PNG pictures are shown by the Extensions view and allowed by vsce`);
  const data = readFileSync(path.join(path.dirname(source), link)).toString('base64');
  return `![${alt}](data:image/png;base64,${data})`;
});
mkdirSync(path.dirname(target), { recursive: true });
writeFileSync(target, text);
console.log(`${target}: ${(text.length / 1024).toFixed(0)} KiB, pictures inlined`);
