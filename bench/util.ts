import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';

export interface Timing {
  label: string;
  samples: number[];
}

export function percentile(samples: number[], p: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index]!;
}

export async function time(fn: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await fn();
  return performance.now() - started;
}

export async function sample(count: number, fn: (index: number) => Promise<unknown>): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < count; i++) samples.push(await time(() => fn(i)));
  return samples;
}

/** Runs a command line through bash; rejects on a non-zero exit with its stderr. */
export function sh(script: string, env: NodeJS.ProcessEnv = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-c', script], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('close', (code) => (code === 0 ? resolve(stdout) : reject(new Error(`${script.slice(0, 80)} exited ${code}: ${stderr}`))));
  });
}

/**
 * BENCH_SCALE (default 1) multiplies every count of runs and rounds, e.g. 0.25 for a quick look
 * on a busy machine; never below `least`, so each side still gets both orders of an ABAB run.
 */
export function scaled(count: number, least = 2): number {
  const factor = Number(process.env.BENCH_SCALE ?? '1');
  if (!Number.isFinite(factor) || factor <= 0) throw new Error(`BENCH_SCALE is ${process.env.BENCH_SCALE}; set it to a positive number such as 0.25 or 1.`);
  return Math.max(least, Math.round(count * factor));
}

/**
 * Runs every contender once a round, the order rotated each round (AB BA AB..., ABC BCA CAB...),
 * so drift in the machine's load and caches one warmed for the next hit all alike.
 * `afterEach` runs untimed after each contender's turn (e.g. to remove what it started), and
 * `beforeEach` untimed before it (e.g. to warm what it needs warm).
 */
export async function interleave<K extends string>(
  rounds: number,
  contenders: Record<K, (round: number) => Promise<unknown>>,
  afterEach?: (name: K, round: number) => Promise<unknown>,
  beforeEach?: (name: K, round: number) => Promise<unknown>,
): Promise<Record<K, number[]>> {
  const names = Object.keys(contenders) as K[];
  const samples = Object.fromEntries(names.map((name) => [name, [] as number[]])) as Record<K, number[]>;
  for (let round = 0; round < rounds; round++) {
    for (let turn = 0; turn < names.length; turn++) {
      const name = names[(round + turn) % names.length]!;
      if (beforeEach) await beforeEach(name, round);
      samples[name].push(await time(() => contenders[name](round)));
      if (afterEach) await afterEach(name, round);
    }
  }
  return samples;
}

export const median = (values: number[]): number => percentile(values, 50);

/** "p50 / p95" of a set of samples. */
export function p50p95(values: number[]): string {
  return `${ms(percentile(values, 50))} / ${ms(percentile(values, 95))}`;
}

export function ms(value: number): string {
  return `${value.toFixed(1)} ms`;
}

export function report(title: string, rows: [string, string][], verdict?: string): void {
  console.log(`\n## ${title}`);
  const width = Math.max(...rows.map(([key]) => key.length));
  for (const [key, value] of rows) console.log(`  ${key.padEnd(width)}  ${value}`);
  if (verdict) console.log(`  => ${verdict}`);
}

export function ratioLine(ours: number, baseline: number, target?: number): string {
  const ratio = ours / baseline;
  const verdict = target === undefined ? '' : ratio <= target ? ` (target <= ${target}x: met)` : ` (target <= ${target}x: NOT met)`;
  return `${ratio.toFixed(2)}x the baseline${verdict}`;
}

/** `files` files of equal size in 50 x 7 folders, `totalBytes` in all. */
export async function makeTree(root: string, files: number, totalBytes: number): Promise<void> {
  const size = Math.floor(totalBytes / files);
  for (let i = 0; i < files; i++) {
    const dir = path.join(root, `d${i % 50}`, `s${i % 7}`);
    await fs.mkdir(dir, { recursive: true });
    const content = Buffer.alloc(size, i % 251);
    content.write(`file ${i}\n`);
    await fs.writeFile(path.join(dir, `f${i}.txt`), content);
  }
}
