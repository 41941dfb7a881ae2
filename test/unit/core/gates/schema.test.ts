import * as assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { GATES_FILE, GATES_FILE_FIELDS, parseGatesConfig } from '../../../../src/core/gates/config';

/** The editor's schema of .sandboxes/gates.json must say what the reader accepts, no more and no less. */

const ROOT = path.resolve(__dirname, '../../../../..');
const SCHEMA_FILE = path.join(ROOT, 'schemas/gates.schema.json');

interface Schema {
  type?: string;
  description?: string;
  properties?: Record<string, Schema>;
  required?: string[];
  additionalProperties?: boolean;
  items?: Schema;
  oneOf?: Schema[];
  enum?: unknown[];
  pattern?: string;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
}

const schema = JSON.parse(readFileSync(SCHEMA_FILE, 'utf8')) as Schema;

/** The draft-07 keywords this schema uses, checked plainly: the problems found, empty when valid. */
function validate(value: unknown, node: Schema, where = '$'): string[] {
  if (node.oneOf) {
    const passing = node.oneOf.filter((option) => validate(value, option, where).length === 0).length;
    return passing === 1 ? [] : [`${where}: matches ${passing} of oneOf`];
  }
  const problems: string[] = [];
  const isObject = typeof value === 'object' && value !== null && !Array.isArray(value);
  const typeOk =
    node.type === undefined ||
    (node.type === 'object' && isObject) ||
    (node.type === 'array' && Array.isArray(value)) ||
    (node.type === 'string' && typeof value === 'string') ||
    (node.type === 'boolean' && typeof value === 'boolean') ||
    (node.type === 'number' && typeof value === 'number') ||
    (node.type === 'integer' && Number.isInteger(value));
  if (!typeOk) return [`${where}: not ${node.type}`];
  if (node.enum && !node.enum.includes(value)) problems.push(`${where}: not in enum`);
  if (typeof value === 'string') {
    if (node.minLength !== undefined && value.length < node.minLength) problems.push(`${where}: too short`);
    if (node.maxLength !== undefined && value.length > node.maxLength) problems.push(`${where}: too long`);
    if (node.pattern !== undefined && !new RegExp(node.pattern, 'u').test(value)) problems.push(`${where}: pattern`);
  }
  if (typeof value === 'number') {
    if (node.minimum !== undefined && value < node.minimum) problems.push(`${where}: below minimum`);
    if (node.maximum !== undefined && value > node.maximum) problems.push(`${where}: above maximum`);
    if (node.exclusiveMinimum !== undefined && value <= node.exclusiveMinimum) problems.push(`${where}: not above exclusiveMinimum`);
  }
  if (Array.isArray(value)) {
    if (node.minItems !== undefined && value.length < node.minItems) problems.push(`${where}: too few items`);
    if (node.maxItems !== undefined && value.length > node.maxItems) problems.push(`${where}: too many items`);
    if (node.items) value.forEach((item, index) => problems.push(...validate(item, node.items as Schema, `${where}[${index}]`)));
  }
  if (isObject) {
    const object = value as Record<string, unknown>;
    for (const key of node.required ?? []) if (!(key in object)) problems.push(`${where}: ${key} missing`);
    for (const [key, child] of Object.entries(object)) {
      const property = node.properties?.[key];
      if (property) problems.push(...validate(child, property, `${where}.${key}`));
      else if (node.additionalProperties === false) problems.push(`${where}: ${key} not allowed`);
    }
  }
  return problems;
}

const readerAccepts = (value: unknown): boolean => {
  try {
    parseGatesConfig(value, GATES_FILE);
    return true;
  } catch {
    return false;
  }
};

const keysOf = (node: Schema | undefined): string[] => Object.keys(node?.properties ?? {}).sort();
const sorted = (keys: readonly string[]): string[] => [...keys].sort();

describe('the gates file schema', function () {
  const l0Item = schema.properties?.l0?.items;

  it('lists exactly the fields the reader knows, at every level', function () {
    assert.deepEqual(keysOf(schema), sorted(GATES_FILE_FIELDS.root));
    assert.deepEqual(keysOf(l0Item), sorted(GATES_FILE_FIELDS.l0));
    assert.deepEqual(keysOf(l0Item?.properties?.report), sorted(GATES_FILE_FIELDS.report));
    assert.deepEqual(keysOf(schema.properties?.lint?.items), sorted(GATES_FILE_FIELDS.lint));
    assert.deepEqual(keysOf(schema.properties?.l1), sorted(GATES_FILE_FIELDS.l1));
    assert.deepEqual(keysOf(schema.properties?.l2), sorted(GATES_FILE_FIELDS.l2));
    assert.deepEqual(keysOf(schema.properties?.snapshots), sorted(GATES_FILE_FIELDS.snapshots));
    assert.deepEqual(l0Item?.properties?.report?.properties?.format?.enum, ['junit', 'tap', 'go-json']);
  });

  it('describes every field and refuses fields it does not list', function () {
    const visit = (node: Schema, where: string): void => {
      if (node.type === 'object') assert.equal(node.additionalProperties, false, `${where} refuses unknown fields`);
      for (const [key, child] of Object.entries(node.properties ?? {})) {
        assert.ok(child.description, `${where}.${key} has a description`);
        visit(child, `${where}.${key}`);
      }
      if (node.items) visit(node.items, `${where}[]`);
    };
    visit(schema, '$');
  });

  it('agrees with the reader on valid and invalid files', function () {
    const command = { name: 'unit', command: 'make test' };
    const samples: unknown[] = [
      { l0: [] },
      { $schema: './x.json', l0: [command], lint: [{ name: 'eslint', command: ['npx', 'eslint', '.'], cwd: 'web', timeoutSeconds: 60 }] },
      { l0: [{ ...command, cwd: 'packages/api', timeoutSeconds: 7200, report: { format: 'go-json', path: '-' } }] },
      {
        l0: [{ ...command, report: { format: 'junit', path: 'out/junit.xml' } }],
        l1: { regressions: false, slowerFactor: 1.01, slowerMinMs: 0, lintGrowth: true },
      },
      { l0: [], l2: { paths: ['src/auth/**'], maxChangedLines: 0, critical: false }, snapshots: { keep: 1, maxAgeDays: 3650 } },
      {},
      [],
      { l0: [], extra: 1 },
      { l0: [{ name: 'a' }] },
      { l0: [{ ...command, command: [] }] },
      { l0: [{ ...command, command: '' }] },
      { l0: [{ ...command, name: '' }] },
      { l0: [{ ...command, name: '   ' }] },
      { l0: [{ ...command, cwd: '../up' }] },
      { l0: [{ ...command, cwd: '/abs' }] },
      { l0: [{ ...command, cwd: 'a/./b' }] },
      { l0: [{ ...command, cwd: 'a\\b' }] },
      { l0: [{ ...command, cwd: 'C:/x' }] },
      { l0: [{ ...command, timeoutSeconds: 0 }] },
      { l0: [{ ...command, timeoutSeconds: 7201 }] },
      { l0: [{ ...command, timeoutSeconds: 1.5 }] },
      { l0: [{ ...command, report: { format: 'xunit', path: 'r.xml' } }] },
      { l0: [{ ...command, report: { format: 'tap' } }] },
      { l0: [{ ...command, report: { format: 'tap', path: '--' } }] },
      { l0: [{ ...command, report: { format: 'tap', path: 'x/..' } }] },
      { l0: [], lint: [{ ...command, report: { format: 'tap', path: '-' } }] },
      { l0: [], l1: { slowerFactor: 1 } },
      { l0: [], l1: { slowerMinMs: -5 } },
      { l0: [], l1: { regressions: 1 } },
      { l0: [], l2: { paths: [''] } },
      { l0: [], l2: { maxChangedLines: -1 } },
      { l0: [], snapshots: { keep: 0 } },
      { l0: [], snapshots: { maxAgeDays: 0.5 } },
    ];
    for (const sample of samples) {
      const schemaProblems = validate(sample, schema);
      assert.equal(schemaProblems.length === 0, readerAccepts(sample), `${JSON.stringify(sample)}: schema says ${schemaProblems.join('; ') || 'valid'}`);
    }
  });
});
