import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import * as path from 'node:path';
import * as ts from 'typescript';

/** What an import names: a file of this repo, a package, or a Node.js built-in module. */
export type ImportTarget = { kind: 'file'; path: string } | { kind: 'package'; name: string } | { kind: 'node'; name: string };

/** One import of one file; paths are relative to the repo root, with forward slashes. */
export interface ImportEdge {
  from: string;
  specifier: string;
  target: ImportTarget;
}

/** One entry of src/layers.json. */
export interface LayerRule {
  folder: string;
  mustNotImport: string[];
}

const builtins = new Set(builtinModules);

/** Every module specifier a TypeScript file names: import/export from, import = require, require(), import() and import types. */
export function moduleSpecifiers(fileName: string, text: string): string[] {
  const source = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, false, ts.ScriptKind.TS);
  const found: string[] = [];
  const visit = (node: ts.Node): void => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      found.push(node.moduleSpecifier.text);
    } else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) {
      const expression = node.moduleReference.expression;
      if (ts.isStringLiteral(expression)) found.push(expression.text);
    } else if (ts.isCallExpression(node) && node.arguments.length === 1 && ts.isStringLiteralLike(node.arguments[0])) {
      const isRequire = ts.isIdentifier(node.expression) && node.expression.text === 'require';
      if (isRequire || node.expression.kind === ts.SyntaxKind.ImportKeyword) found.push(node.arguments[0].text);
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument) && ts.isStringLiteral(node.argument.literal)) {
      found.push(node.argument.literal.text);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

/** Where a specifier written in `fromFile` (repo-relative) leads; a relative one that names no file keeps its resolved path. */
export function resolveSpecifier(root: string, fromFile: string, specifier: string): ImportTarget {
  if (specifier.startsWith('.')) {
    const base = path.posix.normalize(path.posix.join(path.posix.dirname(fromFile), specifier));
    const candidates = [base, `${base}.ts`, `${base}.d.ts`, `${base}/index.ts`];
    const existing = candidates.find((candidate) => existsSync(path.join(root, candidate)) && statSync(path.join(root, candidate)).isFile());
    return { kind: 'file', path: existing ?? base };
  }
  if (specifier.startsWith('node:') || builtins.has(specifier.split('/')[0])) return { kind: 'node', name: specifier.replace(/^node:/, '') };
  const parts = specifier.split('/');
  return { kind: 'package', name: specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0] };
}

function typeScriptFilesUnder(root: string, folder: string): string[] {
  const files: string[] = [];
  for (const entry of readdirSync(path.join(root, folder), { withFileTypes: true })) {
    const relative = `${folder}/${entry.name}`;
    if (entry.isDirectory()) files.push(...typeScriptFilesUnder(root, relative));
    else if (entry.name.endsWith('.ts')) files.push(relative);
  }
  return files.sort();
}

/** The imports of every .ts file under `folder` (repo-relative), as written in the sources. */
export function collectImportGraph(root: string, folder = 'src'): ImportEdge[] {
  return typeScriptFilesUnder(root, folder).flatMap((file) =>
    moduleSpecifiers(file, readFileSync(path.join(root, file), 'utf8')).map((specifier) => ({
      from: file,
      specifier,
      target: resolveSpecifier(root, file, specifier),
    })),
  );
}

const inFolder = (file: string, folder: string): boolean => file === folder || file.startsWith(`${folder}/`);

function breaks(forbidden: string, target: ImportTarget): boolean {
  if (forbidden === 'node') return target.kind === 'node';
  if (forbidden.startsWith('src/')) return target.kind === 'file' && inFolder(target.path, forbidden);
  return target.kind === 'package' && target.name === forbidden;
}

/** One line per import that a layer rule forbids, e.g. `src/core/a.ts imports 'vscode' (src/core must not import vscode)`. */
export function layerViolations(edges: readonly ImportEdge[], layers: readonly LayerRule[]): string[] {
  const violations: string[] = [];
  for (const edge of edges) {
    for (const layer of layers) {
      if (!inFolder(edge.from, layer.folder)) continue;
      for (const forbidden of layer.mustNotImport) {
        if (breaks(forbidden, edge.target)) violations.push(`${edge.from} imports '${edge.specifier}' (${layer.folder} must not import ${forbidden})`);
      }
    }
  }
  return violations;
}

/** The folder directly under `parent` that holds `file`, or undefined for a file of `parent` itself or elsewhere. */
function folderUnder(parent: string, file: string): string | undefined {
  if (!file.startsWith(`${parent}/`)) return undefined;
  const parts = file.slice(parent.length + 1).split('/');
  return parts.length > 1 ? parts[0] : undefined;
}

/** Which folders directly under `parent` import which others, e.g. `hosts -> providers`. */
export function folderDependencies(edges: readonly ImportEdge[], parent: string): Map<string, Set<string>> {
  const dependencies = new Map<string, Set<string>>();
  for (const edge of edges) {
    if (edge.target.kind !== 'file') continue;
    const from = folderUnder(parent, edge.from);
    const to = folderUnder(parent, edge.target.path);
    if (!from || !to || from === to) continue;
    if (!dependencies.has(from)) dependencies.set(from, new Set());
    dependencies.get(from)!.add(to);
  }
  return dependencies;
}

/**
 * Every elementary cycle among the folders directly under `parent`, each written from its
 * alphabetically first folder, e.g. `hosts -> providers -> hosts`; sorted, so lists compare exactly.
 */
export function folderCycles(edges: readonly ImportEdge[], parent: string): string[] {
  const dependencies = folderDependencies(edges, parent);
  const folders = [...dependencies.keys()].sort();
  const cycles: string[] = [];
  // Each cycle is found once: from its smallest folder, through folders greater than that one.
  for (const start of folders) {
    const walk = (folder: string, trail: string[]): void => {
      for (const next of [...(dependencies.get(folder) ?? [])].sort()) {
        if (next === start) cycles.push([...trail, start].join(' -> '));
        else if (next > start && !trail.includes(next)) walk(next, [...trail, next]);
      }
    };
    walk(start, [start]);
  }
  return cycles.sort();
}
