import * as assert from 'node:assert/strict';
import * as net from 'node:net';
import { collectorSinks, withoutCredentials } from '../../../src/app/collectorSinks';
import { PrometheusEndpoint } from '../../../src/app/prometheusEndpoint';
import { DEFAULT_COLLECTOR_CONFIG } from '../../../src/core/collector/config';

describe('collector sinks', () => {
  it('makes no exporter unless collector.json asks for one', () => {
    const log: string[] = [];
    assert.deepEqual(
      collectorSinks(DEFAULT_COLLECTOR_CONFIG, (line) => log.push(line)),
      [],
    );
    assert.deepEqual(log, []);
  });

  it('logs an OTLP endpoint without the user and password written into it', () => {
    assert.equal(withoutCredentials('https://user:secret@otel.example.com:4318/'), 'https://otel.example.com:4318');
    assert.equal(withoutCredentials('http://127.0.0.1:4318/base'), 'http://127.0.0.1:4318/base');
    assert.equal(withoutCredentials('not a url'), '(an endpoint that is not a URL)');
  });

  it('says so when the Prometheus port is taken, and the collector goes on without the endpoint', async () => {
    const taken = net.createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = (taken.address() as net.AddressInfo).port;
    const log: string[] = [];
    try {
      const [endpoint] = collectorSinks({ ...DEFAULT_COLLECTOR_CONFIG, prometheus: { port } }, (line) => log.push(line));
      assert.ok(endpoint instanceof PrometheusEndpoint);
      assert.equal(await endpoint.listening, undefined);
      assert.match(log.join('\n'), new RegExp(`Prometheus metrics are not served: 127\\.0\\.0\\.1:${port} could not be listened on .*pick a free port`));
      await endpoint.close();
    } finally {
      await new Promise((resolve) => taken.close(resolve));
    }
  });
});
