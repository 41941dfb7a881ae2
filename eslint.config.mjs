// Lint rules, and the layers of src/layers.json: `npm run lint` fails when a layer imports what it must not.
import { readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';

const root = path.dirname(fileURLToPath(import.meta.url));
const { layers } = JSON.parse(readFileSync(path.join(root, 'src/layers.json'), 'utf8'));
const builtins = new Set(builtinModules);

/** Whether `specifier`, written in `fileName`, names what the layers file calls `forbidden`. */
function names(forbidden, fileName, specifier) {
  if (forbidden === 'node') return specifier.startsWith('node:') || builtins.has(specifier.split('/')[0]);
  if (forbidden.startsWith('src/')) {
    if (!specifier.startsWith('.')) return false;
    const target = path.relative(path.join(root, forbidden), path.resolve(path.dirname(fileName), specifier));
    return target === '' || (!target.startsWith('..') && !path.isAbsolute(target));
  }
  return specifier === forbidden || specifier.startsWith(`${forbidden}/`);
}

/** Reports each import (import/export from, import = require, require(), import(), import types) a layer must not make. */
const layersRule = {
  meta: {
    type: 'problem',
    docs: { description: 'Keeps each layer of src/layers.json from importing what it must not.' },
    schema: [],
    messages: { forbidden: "{{folder}} must not import {{forbidden}} ('{{specifier}}'): {{why}}" },
  },
  create(context) {
    const relative = path.relative(root, context.filename).split(path.sep).join('/');
    const rules = layers.filter((layer) => relative.startsWith(`${layer.folder}/`));
    if (rules.length === 0) return {};
    const check = (node) => {
      if (node?.type !== 'Literal' || typeof node.value !== 'string') return;
      for (const layer of rules) {
        const forbidden = layer.mustNotImport.find((entry) => names(entry, context.filename, node.value));
        if (forbidden) context.report({ node, messageId: 'forbidden', data: { folder: layer.folder, forbidden, specifier: node.value, why: layer.why } });
      }
    };
    return {
      ImportDeclaration: (node) => check(node.source),
      ExportNamedDeclaration: (node) => check(node.source),
      ExportAllDeclaration: (node) => check(node.source),
      ImportExpression: (node) => check(node.source),
      TSExternalModuleReference: (node) => check(node.expression),
      TSImportType: (node) => check(node.argument?.type === 'TSLiteralType' ? node.argument.literal : node.argument),
      CallExpression: (node) => {
        if (node.callee.type === 'Identifier' && node.callee.name === 'require' && node.arguments.length === 1) check(node.arguments[0]);
      },
    };
  },
};

export default defineConfig(
  {
    ignores: [
      'dist/',
      'out/',
      'media/',
      'images/',
      '.bench/',
      'test/e2e/host/node_modules/',
      '**/*.vsix',
      'test/fixtures/gates/workspace/',
    ] /* a project the gates check, in its own style */,
  },
  js.configs.recommended,
  tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: {
      // Each file is checked against its own tsconfig (src/viewer has one for the page's DOM types).
      parserOptions: { projectService: true, tsconfigRootDir: root },
    },
    plugins: { local: { rules: { layers: layersRule } } },
    rules: {
      'local/layers': 'error',
      // Terminal output, file names and SSH fields are sanitized on purpose by matching control characters.
      'no-control-regex': 'off',
      // Type-aware, and cheap once the program is built: an unawaited promise loses its errors.
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: false }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none', ignoreRestSiblings: true }],
    },
  },
  {
    files: ['**/*.mjs', '**/*.js'],
    languageOptions: { globals: { console: 'readonly', process: 'readonly' } },
  },
);
