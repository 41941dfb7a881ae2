import * as assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import * as path from 'node:path';

const core = path.resolve(__dirname, '../../../../src/core');

/** A room of src/core: a subfolder ("hosts/"), or a file at its root ("controller.ts"). */
function roomOf(file: string): string {
  const parts = path.relative(core, file).split(path.sep);
  return parts.length === 1 ? parts[0]! : `${parts[0]}/`;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(full);
    return entry.name.endsWith('.ts') ? [full] : [];
  });
}

function resolveImport(from: string, spec: string): string {
  const target = path.resolve(path.dirname(from), spec);
  return existsSync(target) && statSync(target).isDirectory() ? path.join(target, 'index.ts') : `${target}.ts`;
}

/** Room-to-room import edges, each with the imports that make it. */
export function coreRoomEdges(): Map<string, Map<string, string[]>> {
  const edges = new Map<string, Map<string, string[]>>();
  const importPattern = /(?:import|export)[^'"]*?from\s+['"]([^'"]+)['"]|import\s*\(?\s*['"]([^'"]+)['"]|require\(\s*['"]([^'"]+)['"]\s*\)/g;
  for (const file of sourceFiles(core)) {
    const text = readFileSync(file, 'utf8');
    for (const match of text.matchAll(importPattern)) {
      const spec = match[1] ?? match[2] ?? match[3]!;
      if (!spec.startsWith('.')) continue;
      const target = resolveImport(file, spec);
      if (!target.startsWith(core + path.sep)) continue;
      const [from, to] = [roomOf(file), roomOf(target)];
      if (from === to) continue;
      const targets = edges.get(from) ?? new Map<string, string[]>();
      edges.set(from, targets);
      targets.set(to, [...(targets.get(to) ?? []), `${path.relative(core, file)} imports ${spec}`]);
    }
  }
  return edges;
}

/** One cycle among the rooms, as a path that comes back to its start, or undefined. */
function findCycle(edges: Map<string, Map<string, string[]>>): string[] | undefined {
  const done = new Set<string>();
  const onPath: string[] = [];
  const visit = (room: string): string[] | undefined => {
    const at = onPath.indexOf(room);
    if (at >= 0) return [...onPath.slice(at), room];
    if (done.has(room)) return undefined;
    onPath.push(room);
    for (const next of edges.get(room)?.keys() ?? []) {
      const cycle = visit(next);
      if (cycle) return cycle;
    }
    onPath.pop();
    done.add(room);
    return undefined;
  };
  for (const room of edges.keys()) {
    const cycle = visit(room);
    if (cycle) return cycle;
  }
  return undefined;
}

/**
 * Rooms that drive sandboxes through the controller, as a front end does, rather than being part
 * of it: the scheduler places tasks with create/exec/delete like any other user of the one API,
 * the gates make their sandboxes to judge a change the same way, and the doctor looks over the
 * controller's engine, state dir and hosts as a user would; the collector samples the running
 * sandboxes through it.
 * The cycle check keeps the controller and its services from importing them back.
 */
const CONTROLLER_CLIENTS = new Set(['tasks/', 'gates/', 'doctor/', 'collector/']);

describe('src/core rooms', () => {
  const edges = coreRoomEdges();

  it('import one another without a cycle', () => {
    const cycle = findCycle(edges);
    const why = cycle?.slice(1).map((to, i) => `${cycle[i]} -> ${to}: ${edges.get(cycle[i]!)!.get(to)!.join(', ')}`);
    assert.equal(cycle, undefined, `cycle ${cycle?.join(' -> ')}\n${why?.join('\n')}`);
  });

  it('never reach back up to the controller or out to a front end', () => {
    for (const [from, targets] of edges) {
      if (from !== 'controller.ts' && !CONTROLLER_CLIENTS.has(from))
        assert.ok(!targets.has('controller.ts'), `${from} imports the controller: ${targets.get('controller.ts')?.join(', ')}`);
    }
    for (const file of sourceFiles(core)) {
      const text = readFileSync(file, 'utf8');
      assert.doesNotMatch(text, /from\s+['"](vscode|(\.\.\/)+(cli|extension)\/[^'"]*)['"]/, `${path.relative(core, file)} imports vscode or a front end`);
    }
  });
});
