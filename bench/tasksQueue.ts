/**
 * The queue-scale figure, measured in a child process of its own (run with --expose-gc) so its
 * memory is the queue's alone: `node --expose-gc tasksQueue.js DIR_10K DIR_100K ROUNDS` prints one
 * JSON line. Each DIR holds a task_queue.jsonl of `added` lines (written by bench/tasks.ts).
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { placementOrder } from '../src/core/tasks/ordering';
import { QUEUE_FILE, TaskQueue } from '../src/core/tasks/queue';
import { interleave } from './util';

export interface QueueScaleResult {
  tasks10k: number;
  rssBefore: number;
  rssAfter: number;
  heapBefore: number;
  heapAfter: number;
  /** One tick's share of the queue with nothing new: the incremental load and the placement order of every queued task. */
  tickMs: number[];
  lines100k: number;
  fold: number[];
  parse: number[];
}

function collect(): NodeJS.MemoryUsage {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('Run this with node --expose-gc: the memory figures need a collection before each reading.');
  gc();
  gc();
  return process.memoryUsage();
}

function main(): void {
  const [dir10k, dir100k, roundsText] = process.argv.slice(2);
  if (!dir10k || !dir100k || !roundsText) throw new Error('Usage: node --expose-gc tasksQueue.js DIR_10K DIR_100K ROUNDS');
  const before = collect();
  const queue = new TaskQueue(dir10k);
  const book = queue.load();
  const after = collect();
  const tickMs: number[] = [];
  for (let i = 0; i < 5; i++) {
    const started = performance.now();
    const queued = [...queue.load().tasks.values()].filter((task) => task.state === 'queued');
    placementOrder(queued, Date.now(), 10 * 60_000);
    tickMs.push(performance.now() - started);
  }
  const file100k = path.join(dir100k, QUEUE_FILE);
  let lines100k = 0;
  void interleave(Number(roundsText), {
    fold: async () => {
      lines100k = new TaskQueue(dir100k).load().tasks.size;
    },
    parse: async () => {
      // The same read and split a load does, then one JSON.parse per line and nothing else.
      for (const line of readFileSync(file100k).toString('utf8').split('\n')) if (line !== '') JSON.parse(line);
    },
  }).then((samples) => {
    const result: QueueScaleResult = {
      tasks10k: book.tasks.size,
      rssBefore: before.rss,
      rssAfter: after.rss,
      heapBefore: before.heapUsed,
      heapAfter: after.heapUsed,
      tickMs,
      lines100k,
      fold: samples.fold,
      parse: samples.parse,
    };
    process.stdout.write(JSON.stringify(result) + '\n');
  });
}

main();
