import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { EVENTS_METRIC, PROMETHEUS_PREFIX, PrometheusSink, SAMPLE_METRICS } from '../../../../src/core/collector/prometheusSink';
import { gaugeMetricName, sandboxLabels, staleAfterMs } from '../../../../src/core/collector/sandboxSeries';
import type { KnownSandbox, Sample } from '../../../../src/core/collector/store';
import { collectImportGraph } from '../../architecture/importGraph';

const known = (entries: [string, string, string?][]): Map<string, KnownSandbox> =>
  new Map(entries.map(([sandboxId, name, provider]) => [sandboxId, { sandboxId, name, firstSeen: 0, lastSeen: 0, ...(provider ? { provider } : {}) }]));

const sample = (sandboxId: string, time: number, extra: Partial<Sample> = {}): Sample => ({ sandboxId, time, cpuPercent: 150, memoryBytes: 1024, ...extra });

/** The value of one series of the exposition text, by its name and exact label text; undefined when absent. */
function valueOf(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('collector exporters: names', () => {
  it('turns a gauge name into a metric name: lower case, one _ for each run of other characters', () => {
    assert.equal(gaugeMetricName('queue.depth'), 'queue_depth');
    assert.equal(gaugeMetricName('Cost-USD per month'), 'cost_usd_per_month');
    assert.equal(gaugeMetricName('..tasks..running..'), 'tasks_running');
    assert.equal(gaugeMetricName('✓'), 'unnamed');
  });

  it('gives every Prometheus metric the agent_sandboxes_ prefix and a name Prometheus accepts, counters ending in _total', () => {
    for (const name of [...SAMPLE_METRICS.map((m) => m.name), EVENTS_METRIC]) {
      assert.match(PROMETHEUS_PREFIX + name, /^agent_sandboxes_[a-z_][a-z0-9_]*$/);
    }
    for (const metric of SAMPLE_METRICS) assert.equal(metric.kind === 'counter', metric.name.endsWith('_total'), metric.name);
  });

  it('labels a sandbox by its name, id and provider, and by its id when its name is not known', () => {
    const sandboxes = known([['id1', 'web', 'docker']]);
    assert.deepEqual(sandboxLabels('id1', sandboxes), { sandbox: 'web', sandbox_id: 'id1', provider: 'docker' });
    assert.deepEqual(sandboxLabels('id2', sandboxes), { sandbox: 'id2', sandbox_id: 'id2', provider: '' });
  });

  it('lets series outlive three sampling rounds', () => {
    assert.equal(staleAfterMs(5_000), 15_000);
  });
});

describe('collector exporters: the Prometheus sink', () => {
  it('serves the newest sample of each sandbox with its labels, counters as counters, and leaves out what a sample lacks', async () => {
    const sink = new PrometheusSink({ staleAfterMs: 15_000 });
    const sandboxes = known([['id1', 'web', 'docker']]);
    sink.samples([sample('id1', 1, { netRxBytes: 10, netTxBytes: 20, pids: 7 })], sandboxes);
    sink.samples([sample('id1', 3, { cpuPercent: 50, netRxBytes: 300, netTxBytes: 40, pids: 9 })], sandboxes);
    sink.samples([sample('id1', 2, { cpuPercent: 999 })], sandboxes);
    const text = await sink.metrics();
    const labels = '{sandbox="web",sandbox_id="id1",provider="docker"}';
    assert.equal(valueOf(text, `agent_sandboxes_sandbox_cpu_ratio${labels}`), 0.5, 'the newest sample by time wins');
    assert.equal(valueOf(text, `agent_sandboxes_sandbox_memory_bytes${labels}`), 1024);
    assert.equal(valueOf(text, `agent_sandboxes_sandbox_pids${labels}`), 9);
    assert.equal(valueOf(text, `agent_sandboxes_sandbox_network_receive_bytes_total${labels}`), 300);
    assert.equal(valueOf(text, `agent_sandboxes_sandbox_network_transmit_bytes_total${labels}`), 40);
    assert.match(text, /# TYPE agent_sandboxes_sandbox_network_receive_bytes_total counter/);
    assert.match(text, /# TYPE agent_sandboxes_sandbox_memory_bytes gauge/);
    assert.equal(valueOf(text, `agent_sandboxes_sandbox_memory_limit_bytes${labels}`), undefined, 'no limit in the sample, no series');
    assert.equal(valueOf(text, `agent_sandboxes_sandbox_cpu_ratio${labels}`), 0.5, 'a scrape changes nothing');
  });

  it('counts events by type and serves gauges by name, with labels for a sandbox gauge and none for the others', async () => {
    const sink = new PrometheusSink({ staleAfterMs: 15_000 });
    const event = { time: 1, sandboxId: 'id1', sandbox: 'web', data: {} };
    sink.events([
      { ...event, type: 'exec.ended' },
      { ...event, type: 'exec.ended' },
      { ...event, type: 'sandbox.started' },
    ]);
    sink.samples([sample('id1', 1)], known([['id1', 'web', 'docker']]));
    sink.gauges([
      { name: 'queue.depth', sandboxId: '', time: 1, value: 4 },
      { name: 'cost_usd', sandboxId: 'id1', time: 1, value: 0.25 },
      { name: 'queue.depth', sandboxId: '', time: 2, value: 5 },
    ]);
    const text = await sink.metrics();
    assert.equal(valueOf(text, 'agent_sandboxes_events_total{type="exec.ended"}'), 2);
    assert.equal(valueOf(text, 'agent_sandboxes_events_total{type="sandbox.started"}'), 1);
    assert.equal(valueOf(text, 'agent_sandboxes_queue_depth'), 5);
    assert.equal(valueOf(text, 'agent_sandboxes_cost_usd{sandbox="web",sandbox_id="id1",provider="docker"}'), 0.25);
  });

  it('drops the series of a sandbox not seen for the stale time, keeps the others, and follows a rename', async () => {
    let now = 0;
    const sink = new PrometheusSink({ staleAfterMs: 15_000, now: () => now });
    const sandboxes = known([
      ['id1', 'web', 'docker'],
      ['id2', 'db', 'ssh'],
    ]);
    sink.samples([sample('id1', 0), sample('id2', 0)], sandboxes);
    sink.gauges([{ name: 'cost_usd', sandboxId: 'id2', time: 0, value: 1 }]);
    now = 10_000;
    sink.samples([sample('id1', 10_000)], sandboxes);
    now = 16_000;
    let text = await sink.metrics();
    assert.ok(valueOf(text, 'agent_sandboxes_sandbox_memory_bytes{sandbox="web",sandbox_id="id1",provider="docker"}'));
    assert.doesNotMatch(text, /sandbox_id="id2"/, 'neither its samples nor its gauges stay');
    assert.match(text, /# TYPE agent_sandboxes_cost_usd gauge/);

    sandboxes.set('id1', { ...sandboxes.get('id1')!, name: 'web-renamed' });
    sink.samples([sample('id1', 16_000)], sandboxes);
    text = await sink.metrics();
    assert.match(text, /sandbox="web-renamed"/);
    assert.doesNotMatch(text, /sandbox="web"/, 'the old name leaves with the rename');
    now = 32_000;
    assert.doesNotMatch(await sink.metrics(), /sandbox_id=/);
  });

  it('keeps a sandbox whose gauges still arrive after its samples stopped', async () => {
    let now = 0;
    const sink = new PrometheusSink({ staleAfterMs: 15_000, now: () => now });
    sink.samples([sample('id1', 0)], known([['id1', 'web']]));
    now = 10_000;
    sink.gauges([{ name: 'cost_usd', sandboxId: 'id1', time: now, value: 2 }]);
    now = 20_000;
    const text = await sink.metrics();
    assert.equal(valueOf(text, 'agent_sandboxes_cost_usd{sandbox="web",sandbox_id="id1",provider=""}'), 2);
  });
});

describe('collector exporters: OpenTelemetry stays in its own bundle', () => {
  it('is imported by the OTLP sink (the entry of dist/otlp.js) and by no other file of src', () => {
    const root = path.resolve(__dirname, '../../../../..');
    const graph = collectImportGraph(root, 'src');
    const importers = graph.filter((edge) => edge.target.kind === 'package' && edge.target.name.startsWith('@opentelemetry/')).map((edge) => edge.from);
    assert.deepEqual([...new Set(importers)], ['src/core/collector/otlpSink.ts']);
    const valueImports = graph.filter(
      (edge) => edge.target.kind === 'file' && edge.target.path === 'src/core/collector/otlpSink.ts' && edge.from !== 'src/app/collectorSinks.ts',
    );
    assert.deepEqual(valueImports, [], 'only the lazy loader names it (for its type)');
  });
});
