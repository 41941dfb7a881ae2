import * as assert from 'node:assert/strict';
import * as http from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
// OpenTelemetry's own protobuf code, generated from the opentelemetry-proto definitions (a devDependency).
import generated from 'otlp-transformer-generated/build/src/generated/root';
import { eventually, ExportingCollector, WEB } from './collectorExportFixture';
import { REPO_ROOT } from './helpers';

/** The two generated messages decoded here; their typings declare only a protobufjs root. */
interface GeneratedMessage<T> {
  decode(body: Uint8Array): object;
  toObject(message: object, options: object): T;
}
const otlp = (
  generated as unknown as {
    opentelemetry: {
      proto: {
        collector: {
          metrics: { v1: { ExportMetricsServiceRequest: GeneratedMessage<MetricsRequest> } };
          logs: { v1: { ExportLogsServiceRequest: GeneratedMessage<LogsRequest> } };
        };
      };
    };
  }
).opentelemetry.proto.collector;

/** The fields of the decoded requests this test reads. */
interface MetricsRequest {
  resourceMetrics?: {
    resource?: { attributes?: Attribute[] };
    scopeMetrics?: {
      metrics?: { name: string; unit?: string; gauge?: { dataPoints?: DataPoint[] }; sum?: { isMonotonic?: boolean; dataPoints?: DataPoint[] } }[];
    }[];
  }[];
}
interface LogsRequest {
  resourceLogs?: { resource?: { attributes?: Attribute[] }; scopeLogs?: { logRecords?: DecodedLog[] }[] }[];
}

const TOKEN = 'otlp-token-never-logged-7f3a';

interface Received {
  path: string;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

interface Attribute {
  key: string;
  value: { stringValue?: string; intValue?: number; doubleValue?: number; boolValue?: boolean };
}

const decodeOptions = { longs: Number, enums: String, defaults: false, arrays: true };

function attributes(list: Attribute[] | undefined): Record<string, string | number | boolean | undefined> {
  return Object.fromEntries((list ?? []).map((a) => [a.key, a.value.stringValue ?? a.value.doubleValue ?? a.value.intValue ?? a.value.boolValue]));
}

interface DataPoint {
  attributes?: Attribute[];
  asDouble?: number;
  asInt?: number;
}

/** Every data point of every metric in the requests received so far, by metric name, with the resources' attributes. */
function metricPoints(received: Received[]): Map<string, { unit?: string; kind: string; points: DataPoint[]; resource: Record<string, unknown> }> {
  const { ExportMetricsServiceRequest } = otlp.metrics.v1;
  const byName = new Map<string, { unit?: string; kind: string; points: DataPoint[]; resource: Record<string, unknown> }>();
  for (const request of received.filter((r) => r.path === '/v1/metrics')) {
    const decoded = ExportMetricsServiceRequest.toObject(ExportMetricsServiceRequest.decode(request.body), decodeOptions);
    for (const resourceMetrics of decoded.resourceMetrics ?? []) {
      const resource = attributes(resourceMetrics.resource?.attributes);
      for (const scope of resourceMetrics.scopeMetrics ?? []) {
        for (const metric of scope.metrics ?? []) {
          const kind = metric.gauge ? 'gauge' : metric.sum ? (metric.sum.isMonotonic ? 'counter' : 'sum') : 'other';
          const points: DataPoint[] = metric.gauge?.dataPoints ?? metric.sum?.dataPoints ?? [];
          const entry = byName.get(metric.name) ?? { unit: metric.unit, kind, points: [], resource };
          entry.points.push(...points);
          byName.set(metric.name, entry);
        }
      }
    }
  }
  return byName;
}

interface DecodedLog {
  eventName?: string;
  body?: { stringValue?: string };
  attributes?: Attribute[];
  timeUnixNano?: number;
  severityText?: string;
}

function logRecords(received: Received[]): { record: DecodedLog; resource: Record<string, unknown> }[] {
  const { ExportLogsServiceRequest } = otlp.logs.v1;
  const records: { record: DecodedLog; resource: Record<string, unknown> }[] = [];
  for (const request of received.filter((r) => r.path === '/v1/logs')) {
    const decoded = ExportLogsServiceRequest.toObject(ExportLogsServiceRequest.decode(request.body), decodeOptions);
    for (const resourceLogs of decoded.resourceLogs ?? []) {
      const resource = attributes(resourceLogs.resource?.attributes);
      for (const scope of resourceLogs.scopeLogs ?? []) for (const record of scope.logRecords ?? []) records.push({ record, resource });
    }
  }
  return records;
}

const pointValue = (point: DataPoint) => point.asDouble ?? point.asInt;

describe('collector: OTLP export', function () {
  this.timeout(60_000);
  const received: Received[] = [];
  let receiver: http.Server;
  let endpoint: string;

  before(async () => {
    receiver = http.createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        received.push({ path: request.url ?? '', headers: request.headers, body: Buffer.concat(chunks) });
        // An empty ExportServiceResponse: full success.
        response.writeHead(200, { 'Content-Type': 'application/x-protobuf' });
        response.end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    endpoint = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
  });

  after(async () => {
    await new Promise((resolve) => receiver.close(resolve));
  });

  it("sends the sandboxes' metrics and events over OTLP/HTTP in protobuf, with the configured headers, and never logs them", async () => {
    const collector = new ExportingCollector({ otlp: { endpoint, headers: { 'x-collector-token': TOKEN }, intervalMs: 1_000 } });
    try {
      collector.start();
      const metrics = await eventually('the sandbox metrics at the receiver', 20_000, async () => {
        const points = metricPoints(received);
        const cpu = points.get('agent_sandboxes.sandbox.cpu.usage');
        return cpu?.points.some((p) => attributes(p.attributes).sandbox === WEB.name) ? points : undefined;
      });
      const cpu = metrics.get('agent_sandboxes.sandbox.cpu.usage')!;
      assert.equal(cpu.kind, 'gauge');
      assert.equal(cpu.unit, '{cpu}');
      assert.equal(cpu.resource['service.name'], 'agent-sandboxes');
      const webCpu = cpu.points.find((p) => attributes(p.attributes).sandbox === WEB.name)!;
      assert.deepEqual(attributes(webCpu.attributes), { sandbox: WEB.name, sandbox_id: WEB.sandboxId, provider: WEB.provider });
      assert.equal(pointValue(webCpu), 1.5);

      const memory = metrics.get('agent_sandboxes.sandbox.memory.usage')!;
      assert.equal(memory.unit, 'By');
      assert.ok(memory.points.every((p) => pointValue(p)! >= 256 * 1024 * 1024));
      for (const name of ['sandbox.memory.limit', 'sandbox.disk.usage', 'sandbox.process.count']) assert.ok(metrics.get(`agent_sandboxes.${name}`), name);

      const network = metrics.get('agent_sandboxes.sandbox.network.io')!;
      assert.equal(network.kind, 'counter');
      const directions = new Set(network.points.map((p) => attributes(p.attributes)['network.io.direction']));
      assert.deepEqual([...directions].sort(), ['receive', 'transmit']);
      assert.ok(network.points.some((p) => pointValue(p)! >= 1_000_000));

      assert.equal(pointValue(metrics.get('agent_sandboxes.queue_depth')!.points[0]), 3);
      const cost = metrics.get('agent_sandboxes.cost_usd')!.points.find((p) => attributes(p.attributes).sandbox === WEB.name);
      assert.equal(cost && pointValue(cost), 0.42);

      const started = await eventually('the events at the receiver', 20_000, async () => {
        const records = logRecords(received).filter(({ record }) => record.eventName === 'sandbox.started');
        return records.length >= 2 ? records : undefined;
      });
      const web = started.find(({ record }) => attributes(record.attributes).sandbox === WEB.name)!;
      assert.ok(web, 'a log record for the web sandbox');
      assert.equal(web.resource['service.name'], 'agent-sandboxes');
      assert.deepEqual(attributes(web.record.attributes), {
        'event.type': 'sandbox.started',
        sandbox: WEB.name,
        sandbox_id: WEB.sandboxId,
        provider: WEB.provider,
        agent: WEB.agent,
        'data.image': 'agent-sandboxes/sandbox',
        'data.cpus': 2,
      });
      assert.equal(web.record.severityText, 'INFO');
      assert.ok(Math.abs(web.record.timeUnixNano! / 1e6 - Date.now()) < 60_000, 'the event keeps its time');

      for (const request of received) {
        assert.equal(request.headers['x-collector-token'], TOKEN, `${request.path} carries the configured header`);
        assert.equal(request.headers['content-type'], 'application/x-protobuf');
      }
      assert.ok(received.some((r) => r.path === '/v1/logs') && received.some((r) => r.path === '/v1/metrics'));
    } finally {
      await collector.dispose();
    }
    assert.ok(
      collector.logLines.some((line) => line.includes(endpoint)),
      collector.logLines.join('\n'),
    );
    assert.ok(!collector.logLines.join('\n').includes(TOKEN), 'the token is never logged');
  });

  it('sends the events still pending when the collector stops', async () => {
    const collector = new ExportingCollector({ otlp: { endpoint, intervalMs: 60_000 } });
    const [sink] = collector.sinks;
    const before = logRecords(received).length;
    sink.events!([{ time: Date.now(), type: 'task.finished', sandboxId: WEB.sandboxId, sandbox: WEB.name, task: 't-1', data: { exitCode: 0 } }]);
    // Well before the processor's own one-second delay and the 60 s metric interval: only closing sends them.
    await collector.dispose();
    const sent = logRecords(received).slice(before);
    assert.deepEqual(
      sent.map(({ record }) => [record.eventName, attributes(record.attributes).task]),
      [['task.finished', 't-1']],
    );
  });

  it('sends from dist/otlp.js, the bundle the CLI loads, as from the sources', async () => {
    const bundle = path.join(REPO_ROOT, 'dist', 'otlp.js');
    const { OtlpSink } = createRequire(__filename)(bundle) as typeof import('../../src/core/collector/otlpSink');
    const sink = new OtlpSink({ endpoint, endpointForLogs: endpoint, intervalMs: 60_000, staleAfterMs: 15_000, log: () => undefined });
    const before = received.length;
    sink.samples([{ sandboxId: WEB.sandboxId, time: Date.now(), cpuPercent: 25, memoryBytes: 1 }], new Map([[WEB.sandboxId, WEB]]));
    sink.events([{ time: Date.now(), type: 'sync.pushed', sandboxId: WEB.sandboxId, sandbox: WEB.name, data: { files: 3 } }]);
    await sink.close();
    const sent = received.slice(before);
    const cpu = metricPoints(sent).get('agent_sandboxes.sandbox.cpu.usage');
    assert.equal(cpu && pointValue(cpu.points[0]), 0.25);
    assert.deepEqual(
      logRecords(sent).map(({ record }) => record.eventName),
      ['sync.pushed'],
    );
  });

  it('logs a failing endpoint once, with neither its headers nor a crash, and goes on', async () => {
    const refused = http.createServer((_request, response) => {
      response.writeHead(503);
      response.end();
    });
    await new Promise<void>((resolve) => refused.listen(0, '127.0.0.1', resolve));
    const badEndpoint = `http://127.0.0.1:${(refused.address() as AddressInfo).port}`;
    const collector = new ExportingCollector({ otlp: { endpoint: badEndpoint, headers: { authorization: `Bearer ${TOKEN}` }, intervalMs: 1_000 } });
    try {
      collector.start();
      await eventually('the failure in the log', 20_000, async () => (collector.logLines.some((l) => l.includes('failed')) ? true : undefined));
      await new Promise((resolve) => setTimeout(resolve, 2_500));
      const failures = collector.logLines.filter((l) => l.includes('OTLP export of metrics') && l.includes('failed'));
      assert.equal(failures.length, 1, collector.logLines.join('\n'));
      assert.ok(collector.part.rounds >= 3, 'the collector went on');
    } finally {
      await collector.dispose();
      await new Promise((resolve) => refused.close(resolve));
    }
    assert.ok(!collector.logLines.join('\n').includes(TOKEN));
  });
});
