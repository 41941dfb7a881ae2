import * as assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import * as ts from 'typescript';

const root = path.resolve(__dirname, '../../../..');

/** The projects `npm run typecheck` checks: the extension, CLI, core, tests and benchmarks; and the pages of the viewer and the dashboard. */
const TYPECHECKED_PROJECTS = ['tsconfig.json', 'src/viewer/tsconfig.json', 'src/dashboard/tsconfig.json'];

function filesOf(project: string): string[] {
  const parsed = ts.getParsedCommandLineOfConfigFile(path.join(root, project), {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => undefined });
  assert.ok(parsed, `${project} does not parse`);
  return parsed.fileNames.map((file) => path.relative(root, file).split(path.sep).join('/'));
}

function typeScriptFilesUnder(folder: string): string[] {
  return readdirSync(path.join(root, folder), { withFileTypes: true }).flatMap((entry) => {
    const relative = `${folder}/${entry.name}`;
    if (entry.isDirectory()) return entry.name === 'node_modules' ? [] : typeScriptFilesUnder(relative);
    return entry.name.endsWith('.ts') ? [relative] : [];
  });
}

describe('architecture: typecheck', () => {
  it('checks every TypeScript file of src, test and bench in one of the typecheck projects', () => {
    const checked = new Set(TYPECHECKED_PROJECTS.flatMap(filesOf));
    const unchecked = ['src', 'test', 'bench'].flatMap(typeScriptFilesUnder).filter((file) => !checked.has(file));
    assert.deepEqual(unchecked, []);
    assert.ok(checked.has('src/viewer/main.ts') && checked.has('src/core/controller.ts') && checked.has('test/unit/architecture/typecheck.test.ts'));
  });

  it('is what npm run typecheck runs', () => {
    const scripts: Record<string, string> = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')).scripts;
    const projects = [...scripts.typecheck.matchAll(/\btsc -p (\S+)/g)].map((match) => path.posix.join(match[1], 'tsconfig.json'));
    assert.deepEqual(projects, TYPECHECKED_PROJECTS);
  });
});
