/**
 * Checks a language-model tool's input against its JSON Schema (the subset the tools' schemas
 * use), so that a model's bad arguments come back as one sentence naming each wrong one instead
 * of reaching the tool. VS Code does not check them itself.
 */

export interface JsonSchema {
  type?: 'string' | 'number' | 'integer' | 'boolean' | 'array' | 'object';
  enum?: unknown[];
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  minItems?: number;
  maxItems?: number;
  items?: JsonSchema;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean | JsonSchema;
  propertyNames?: JsonSchema;
  anyOf?: JsonSchema[];
  description?: string;
}

/** Most problems named in one sentence. */
const MAX_PROBLEMS = 5;

function typeOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

function typeProblem(schema: JsonSchema, value: unknown): string | undefined {
  if (!schema.type) return undefined;
  const actual = typeOf(value);
  if (schema.type === 'integer') return typeof value === 'number' && Number.isInteger(value) ? undefined : 'expected an integer';
  return actual === schema.type ? undefined : `expected ${schema.type === 'array' || schema.type === 'object' ? 'an' : 'a'} ${schema.type}, got ${actual}`;
}

/** The problems of one value, each as `where (what)`. */
function problemsOf(schema: JsonSchema, value: unknown, where: string): string[] {
  if (schema.anyOf) {
    const each = schema.anyOf.map((option) => problemsOf(option, value, where));
    if (each.some((problems) => problems.length === 0)) return [];
    const types = schema.anyOf.map((option) => option.type ?? 'a value').join(' or ');
    // One option of the value's own type says best what is wrong with it.
    const sameType = schema.anyOf.findIndex((option) => typeProblem(option, value) === undefined);
    return sameType >= 0 ? each[sameType]! : [`${where} (expected ${types})`];
  }
  const wrongType = typeProblem(schema, value);
  if (wrongType) return [`${where} (${wrongType})`];
  const problems: string[] = [];
  if (schema.enum && !schema.enum.includes(value)) problems.push(`${where} (one of ${schema.enum.map((option) => JSON.stringify(option)).join(', ')})`);
  if (typeof value === 'string') {
    if (schema.minLength !== undefined && value.length < schema.minLength)
      problems.push(`${where} (${schema.minLength === 1 ? 'empty' : `shorter than ${schema.minLength} characters`})`);
    if (schema.maxLength !== undefined && value.length > schema.maxLength) problems.push(`${where} (longer than ${schema.maxLength} characters)`);
    if (schema.pattern !== undefined && !new RegExp(schema.pattern, 'u').test(value)) problems.push(`${where} (does not match ${schema.pattern})`);
  }
  if (typeof value === 'number') {
    if (schema.minimum !== undefined && value < schema.minimum) problems.push(`${where} (must be at least ${schema.minimum})`);
    if (schema.exclusiveMinimum !== undefined && value <= schema.exclusiveMinimum) problems.push(`${where} (must be more than ${schema.exclusiveMinimum})`);
    if (schema.maximum !== undefined && value > schema.maximum) problems.push(`${where} (must be at most ${schema.maximum})`);
  }
  if (Array.isArray(value)) {
    if (schema.minItems !== undefined && value.length < schema.minItems)
      problems.push(`${where} (needs at least ${schema.minItems} item${schema.minItems === 1 ? '' : 's'})`);
    if (schema.maxItems !== undefined && value.length > schema.maxItems) problems.push(`${where} (takes at most ${schema.maxItems} items)`);
    if (schema.items) value.forEach((item, index) => problems.push(...problemsOf(schema.items!, item, `${where}[${index}]`)));
  }
  if (typeOf(value) === 'object') problems.push(...objectProblems(schema, value as Record<string, unknown>, where));
  return problems;
}

function objectProblems(schema: JsonSchema, value: Record<string, unknown>, where: string): string[] {
  const problems: string[] = [];
  const inside = (name: string) => (where === '' ? name : `${where}.${name}`);
  for (const name of schema.required ?? []) if (value[name] === undefined) problems.push(`${inside(name)} (missing)`);
  for (const [name, item] of Object.entries(value)) {
    if (item === undefined) continue;
    if (schema.propertyNames) problems.push(...problemsOf(schema.propertyNames, name, `the name ${inside(name)}`));
    const known = schema.properties?.[name];
    if (known) problems.push(...problemsOf(known, item, inside(name)));
    else if (schema.additionalProperties === false) problems.push(`${inside(name)} (not an argument of this tool)`);
    else if (typeof schema.additionalProperties === 'object') problems.push(...problemsOf(schema.additionalProperties, item, inside(name)));
  }
  return problems;
}

/** Undefined when the input fits the schema; else one sentence naming what is wrong with it. */
export function checkToolInput(toolName: string, schema: JsonSchema, input: unknown): string | undefined {
  if (typeOf(input) !== 'object') return `${toolName} was given ${typeOf(input)} arguments; it takes an object, see its input schema.`;
  const problems = problemsOf(schema, input, '');
  if (problems.length === 0) return undefined;
  return `${toolName} was given bad arguments: ${problems.slice(0, MAX_PROBLEMS).join('; ')}; see its input schema.`;
}
