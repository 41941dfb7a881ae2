import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { PrometheusSink } from '../core/collector/prometheusSink';
import type { CollectorSink } from '../core/collector/sink';
import type { CollectedEvent, Gauge, KnownSandbox, Sample } from '../core/collector/store';
import { describeError } from '../core/errors';

/** Where Prometheus scrapes: loopback only, whatever the port. */
export const PROMETHEUS_HOST = '127.0.0.1';

/**
 * The Prometheus sink behind an HTTP server on 127.0.0.1: GET /metrics answers the text format,
 * another path 404, another method 405, a request addressed to another host name 421 (so a web
 * page whose name was rebound to 127.0.0.1 cannot read the sandboxes' names and costs). Listening starts at once; `listening` says on which
 * port (0 in the settings takes any free one), or undefined when the port could not be had.
 */
export class PrometheusEndpoint implements CollectorSink {
  readonly listening: Promise<number | undefined>;
  private readonly server: http.Server;

  constructor(
    readonly sink: PrometheusSink,
    port: number,
    log: (line: string) => void,
  ) {
    this.server = http.createServer((request, response) => void this.answer(request, response));
    this.listening = new Promise((resolve) => {
      this.server.on('error', (error) => {
        if (this.server.listening) return log(`Collector: the Prometheus endpoint met an error: ${describeError(error)}`);
        log(
          `Collector: Prometheus metrics are not served: ${PROMETHEUS_HOST}:${port} could not be listened on (${describeError(error)}); pick a free port in collector.json.`,
        );
        resolve(undefined);
      });
      this.server.listen(port, PROMETHEUS_HOST, () => {
        const bound = (this.server.address() as AddressInfo).port;
        log(`Collector: Prometheus metrics at http://${PROMETHEUS_HOST}:${bound}/metrics`);
        resolve(bound);
      });
    });
  }

  events(events: readonly CollectedEvent[]): void {
    this.sink.events(events);
  }

  samples(samples: readonly Sample[], sandboxes: ReadonlyMap<string, KnownSandbox>): void {
    this.sink.samples(samples, sandboxes);
  }

  gauges(gauges: readonly Gauge[]): void {
    this.sink.gauges(gauges);
  }

  async close(): Promise<void> {
    if (!this.server.listening) return;
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private addressedHere(host: string | undefined): boolean {
    const port = (this.server.address() as AddressInfo | null)?.port;
    return port !== undefined && (host === `${PROMETHEUS_HOST}:${port}` || host === `localhost:${port}`);
  }

  private async answer(request: http.IncomingMessage, response: http.ServerResponse): Promise<void> {
    if (!this.addressedHere(request.headers.host)) return plain(response, 421, `This endpoint answers at ${PROMETHEUS_HOST} or localhost only.\n`);
    const pathname = (request.url ?? '').split('?')[0];
    if (pathname !== '/metrics') return plain(response, 404, 'Not found: the metrics are at /metrics.\n');
    if (request.method !== 'GET') {
      response.setHeader('Allow', 'GET');
      return plain(response, 405, 'Only GET is answered here.\n');
    }
    try {
      const body = await this.sink.metrics();
      response.writeHead(200, { 'Content-Type': this.sink.contentType, 'Cache-Control': 'no-store' });
      response.end(body);
    } catch (error) {
      plain(response, 500, `The metrics could not be made: ${describeError(error)}\n`);
    }
  }
}

function plain(response: http.ServerResponse, status: number, text: string): void {
  response.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8' });
  response.end(text);
}
