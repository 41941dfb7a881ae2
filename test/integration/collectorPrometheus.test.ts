import * as assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, promises as fs, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { PrometheusEndpoint } from '../../src/app/prometheusEndpoint';
import { DB, eventually, ExportingCollector, WEB } from './collectorExportFixture';

/** Debian's prometheus package (installed by .ci/run); its own service is never started. */
const PROMETHEUS = '/usr/bin/prometheus';

interface PromSeries {
  metric: Record<string, string>;
  value: [number, string];
}

function request(options: http.RequestOptions): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(options, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Whether a TCP connection to host:port is accepted. */
function accepts(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

describe('collector: Prometheus export', function () {
  this.timeout(90_000);
  let collector: ExportingCollector;
  let port: number;

  before(async () => {
    collector = new ExportingCollector({ prometheus: { port: 0 } });
    const endpoint = collector.sinks.find((sink): sink is PrometheusEndpoint => sink instanceof PrometheusEndpoint);
    assert.ok(endpoint, 'a port in collector.json makes a Prometheus endpoint');
    port = (await endpoint.listening)!;
    assert.ok(port > 0, collector.logLines.join('\n'));
    collector.start();
  });

  after(async () => {
    await collector?.dispose();
  });

  it('serves GET /metrics in the text format on 127.0.0.1 only, 404 elsewhere, 405 for other methods, 421 to another host name', async () => {
    const metrics = await eventually('the first samples in /metrics', 10_000, async () => {
      const answer = await request({ host: '127.0.0.1', port, path: '/metrics' });
      return answer.body.includes('agent_sandboxes_sandbox_cpu_ratio{') ? answer : undefined;
    });
    assert.equal(metrics.status, 200);
    assert.match(String(metrics.headers['content-type']), /^text\/plain; version=0\.0\.4/);
    assert.match(metrics.body, /# TYPE agent_sandboxes_events_total counter/);

    assert.equal((await request({ host: '127.0.0.1', port, path: '/' })).status, 404);
    assert.equal((await request({ host: '127.0.0.1', port, path: '/metrics/x' })).status, 404);
    for (const method of ['POST', 'PUT', 'DELETE', 'HEAD']) {
      const answer = await request({ host: '127.0.0.1', port, path: '/metrics', method });
      assert.equal(answer.status, 405, method);
      assert.equal(answer.headers.allow, 'GET');
    }
    // A page whose host name was rebound to 127.0.0.1 sends its own name: refused.
    for (const host of [`evil.example:${port}`, '127.0.0.1', `127.0.0.1:${port + 1}`]) {
      const answer = await request({ host: '127.0.0.1', port, path: '/metrics', headers: { host } });
      assert.equal(answer.status, 421, host);
      assert.doesNotMatch(answer.body, /agent_sandboxes/, host);
    }
    assert.equal((await request({ host: '127.0.0.1', port, path: '/metrics', headers: { host: `localhost:${port}` } })).status, 200);
    // Another loopback address of this machine reaches a server bound to every address, not ours.
    assert.equal(await accepts('127.0.0.1', port), true);
    assert.equal(await accepts('127.0.0.2', port), false, 'the endpoint listens on 127.0.0.1 alone');
  });

  it('is scraped by a real Prometheus server, whose query API returns the sandbox series with their labels and values', async () => {
    const work = mkdtempSync(path.join(os.tmpdir(), 'sandbox-prometheus-'));
    const webPort = await freePort();
    const config = path.join(work, 'prometheus.yml');
    writeFileSync(
      config,
      [
        'global:',
        '  scrape_interval: 1s',
        '  evaluation_interval: 1s',
        'scrape_configs:',
        '  - job_name: agent-sandboxes',
        `    static_configs: [{ targets: ['127.0.0.1:${port}'] }]`,
        '',
      ].join('\n'),
    );
    let output = '';
    const prometheus: ChildProcess = spawn(
      PROMETHEUS,
      [`--config.file=${config}`, `--storage.tsdb.path=${path.join(work, 'data')}`, `--web.listen-address=127.0.0.1:${webPort}`],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    prometheus.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    prometheus.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<void>((resolve) => prometheus.once('exit', () => resolve()));
    const query = async (promql: string): Promise<PromSeries[]> => {
      const answer = await request({ host: '127.0.0.1', port: webPort, path: `/api/v1/query?query=${encodeURIComponent(promql)}` });
      const parsed = JSON.parse(answer.body) as { status: string; data: { result: PromSeries[] } };
      assert.equal(parsed.status, 'success', answer.body);
      return parsed.data.result;
    };
    const series = (promql: string, count = 1) =>
      eventually(`${promql} in Prometheus`, 40_000, async () => {
        if (prometheus.exitCode !== null) throw new Error(`prometheus exited with ${prometheus.exitCode}: ${output.slice(-2000)}`);
        const result = await query(promql);
        return result.length >= count ? result : undefined;
      });
    try {
      const cpu = await series(`agent_sandboxes_sandbox_cpu_ratio{sandbox_id="${WEB.sandboxId}"}`);
      assert.deepEqual(cpu[0].metric, {
        __name__: 'agent_sandboxes_sandbox_cpu_ratio',
        sandbox: WEB.name,
        sandbox_id: WEB.sandboxId,
        provider: WEB.provider,
        instance: `127.0.0.1:${port}`,
        job: 'agent-sandboxes',
      });
      assert.equal(Number(cpu[0].value[1]), 1.5);

      const memory = await series('agent_sandboxes_sandbox_memory_bytes', 2);
      assert.deepEqual(memory.map((s) => s.metric.sandbox).sort(), [DB.name, WEB.name].sort());
      for (const s of memory) assert.ok(Number(s.value[1]) >= 256 * 1024 * 1024 && Number(s.value[1]) < 300 * 1024 * 1024, s.value[1]);

      // Counters: the sample's totals, which grow each round, as the rate Prometheus computes from them.
      const received = await series(`rate(agent_sandboxes_sandbox_network_receive_bytes_total{sandbox="${WEB.name}"}[5s])`);
      assert.ok(Number(received[0].value[1]) > 0, `receive rate ${received[0].value[1]}`);
      const started = await series('agent_sandboxes_events_total{type="sandbox.started"}');
      assert.equal(Number(started[0].value[1]), 2);
      const queue = await series('agent_sandboxes_queue_depth');
      assert.equal(Number(queue[0].value[1]), 3);
      const cost = await series(`agent_sandboxes_cost_usd{sandbox="${WEB.name}"}`);
      assert.equal(Number(cost[0].value[1]), 0.42);
      const up = await series('up{job="agent-sandboxes"}');
      assert.equal(up[0].value[1], '1');
    } finally {
      prometheus.kill('SIGTERM');
      await exited;
      await fs.rm(work, { recursive: true, force: true });
    }
  });

  it('drops the series of a sandbox that stopped being sampled after three rounds', async () => {
    const text = async () => (await request({ host: '127.0.0.1', port, path: '/metrics' })).body;
    assert.match(await text(), new RegExp(`sandbox_id="${DB.sandboxId}"`));
    collector.part.running.delete(DB.sandboxId);
    await eventually('the stopped sandbox leaving /metrics', 10_000, async () => ((await text()).includes(`sandbox_id="${DB.sandboxId}"`) ? undefined : true));
    assert.match(await text(), new RegExp(`agent_sandboxes_sandbox_memory_bytes\\{sandbox="${WEB.name}"`), 'the running one stays');
  });
});
