import * as assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { ESLint } from 'eslint';
import { collectImportGraph, folderCycles, layerViolations, moduleSpecifiers, resolveSpecifier, type ImportEdge, type LayerRule } from './importGraph';

const root = path.resolve(__dirname, '../../../..');
const layers: LayerRule[] = JSON.parse(readFileSync(path.join(root, 'src/layers.json'), 'utf8')).layers;

/**
 * The import cycles among the folders of src/core that are known and tolerated, written as
 * folderCycles writes them (e.g. 'hosts -> providers -> hosts'). None today: a new cycle fails
 * this test, and one listed here must go from the list once it is broken.
 */
const KNOWN_FOLDER_CYCLES: string[] = [];

const edge = (from: string, specifier: string): ImportEdge => ({ from, specifier, target: resolveSpecifier(root, from, specifier) });

describe('architecture: layers of src', () => {
  const graph = collectImportGraph(root, 'src');

  it('reads the real import graph of src, every kind of import included', () => {
    assert.ok(graph.length > 300, `only ${graph.length} imports found under src`);
    const has = (from: string, to: string) => graph.some((e) => e.from === from && e.target.kind === 'file' && e.target.path === to);
    assert.ok(has('src/core/controller.ts', 'src/core/sandboxes/services.ts'));
    assert.ok(has('src/extension/desktopPanel.ts', 'src/viewer/protocol.ts'), 'type-only imports count');
    assert.ok(graph.some((e) => e.from.startsWith('src/extension/') && e.target.kind === 'package' && e.target.name === 'vscode'));
  });

  it('keeps every layer of src/layers.json from importing what it must not', () => {
    assert.deepEqual(layerViolations(graph, layers), []);
  });

  it('has among the folders of src/core exactly the known cycles, no new one and none already broken', () => {
    assert.deepEqual(folderCycles(graph, 'src/core'), KNOWN_FOLDER_CYCLES);
  });
});

describe('architecture: the layer check itself', () => {
  it('finds imports of every form in a source text', () => {
    const text = [
      "import a from './a';",
      "import type { B } from '../b';",
      "export * from './c';",
      "export { d } from './d';",
      "import e = require('./e');",
      "const f = require('./f');",
      "const g = await import('./g');",
      "type H = typeof import('./h');",
      "const notAnImport = load('./i');",
    ].join('\n');
    assert.deepEqual(moduleSpecifiers('x.ts', text), ['./a', '../b', './c', './d', './e', './f', './g', './h']);
  });

  it('reports a core file that imports vscode, a front end or the viewer, and a viewer file that imports Node.js or the core', () => {
    const synthetic = [
      edge('src/core/sandboxes/catalog.ts', 'vscode'),
      edge('src/core/sandboxes/catalog.ts', '../../cli/args'),
      edge('src/core/model.ts', '../extension/presentation'),
      edge('src/core/model.ts', '../app/errors'),
      edge('src/cli/main.ts', 'vscode'),
      edge('src/viewer/main.ts', 'node:fs'),
      edge('src/viewer/main.ts', 'path'),
      edge('src/viewer/main.ts', '../core/model'),
      edge('src/core/model.ts', './errors'),
      edge('src/extension/extension.ts', 'vscode'),
    ];
    assert.deepEqual(layerViolations(synthetic, layers), [
      "src/core/sandboxes/catalog.ts imports 'vscode' (src/core must not import vscode)",
      "src/core/sandboxes/catalog.ts imports '../../cli/args' (src/core must not import src/cli)",
      "src/core/model.ts imports '../extension/presentation' (src/core must not import src/extension)",
      "src/core/model.ts imports '../app/errors' (src/core must not import src/app)",
      "src/cli/main.ts imports 'vscode' (src/cli must not import vscode)",
      "src/viewer/main.ts imports 'node:fs' (src/viewer must not import node)",
      "src/viewer/main.ts imports 'path' (src/viewer must not import node)",
      "src/viewer/main.ts imports '../core/model' (src/viewer must not import src/core)",
    ]);
  });

  it('reports folder cycles, long ones included, and ignores files of the parent folder itself', () => {
    const synthetic = [
      edge('src/core/a/one.ts', '../b/two'),
      edge('src/core/b/two.ts', '../a/one'),
      edge('src/core/b/two.ts', '../c/three'),
      edge('src/core/c/three.ts', '../d/four'),
      edge('src/core/d/four.ts', '../b/two'),
      edge('src/core/d/four.ts', '../model'),
      edge('src/core/model.ts', './d/four'),
    ];
    assert.deepEqual(folderCycles(synthetic, 'src/core'), ['a -> b -> a', 'b -> c -> d -> b']);
  });

  it('makes npm run lint fail on a core file that imports vscode', async function () {
    // Only the layers rule, without type information: a few hundred milliseconds instead of a whole program.
    const eslint = new ESLint({
      cwd: root,
      overrideConfig: { languageOptions: { parserOptions: { projectService: false } } },
      ruleFilter: ({ ruleId }) => ruleId === 'local/layers',
    });
    const probe = [
      "import * as vscode from 'vscode';",
      "import { parseDuration } from '../../cli/args';",
      'export const probe = [vscode, parseDuration];',
    ].join('\n');
    const [result] = await eslint.lintText(probe, { filePath: path.join(root, 'src/core/sandboxes/layerProbe.ts') });
    assert.deepEqual(
      result.messages.map((message) => [message.ruleId, message.line, message.severity]),
      [
        ['local/layers', 1, 2],
        ['local/layers', 2, 2],
      ],
      JSON.stringify(result.messages),
    );
    assert.match(result.messages[0].message, /^src\/core must not import vscode \('vscode'\)/);
  });
});
