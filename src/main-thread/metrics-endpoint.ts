/**
 * The metrics listener: GET /metrics on a port of its own (`metricsPort`), bound to the server's
 * host. It is not the WebSocket port: that one faces clients, and what the metrics say (load,
 * memory, faults) is for operators; a port of its own can be left out of whatever exposes the
 * service (a firewall rule, a Kubernetes Service) and scraped from inside only.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface MetricsSource {
  /** The node's metrics, Prometheus text. */
  render(): Promise<string>;
  readonly contentType: string;
}

export class MetricsEndpoint {
  readonly #http: Server;

  constructor(source: () => Promise<MetricsSource>) {
    this.#http = createServer((request, response) => {
      const path = (request.url ?? '/').split('?')[0];
      if (path !== '/metrics') {
        response.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found: metrics are at /metrics\n');
        return;
      }
      if (request.method !== 'GET' && request.method !== 'HEAD') {
        response.writeHead(405, { 'Content-Type': 'text/plain', 'Allow': 'GET, HEAD' }).end('GET /metrics\n');
        return;
      }
      source().then(async (metrics) => {
        const text = await metrics.render();
        response.writeHead(200, { 'Content-Type': metrics.contentType, 'Cache-Control': 'no-store' });
        response.end(request.method === 'HEAD' ? undefined : text);
      }).catch((error: Error) => {
        response.writeHead(500, { 'Content-Type': 'text/plain' }).end(`metrics unavailable: ${error.message}\n`);
      });
    });
  }

  listen(port: number, host: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#http.once('error', reject);
      this.#http.listen(port, host, () => {
        this.#http.off('error', reject);
        resolve();
      });
    });
  }

  get port(): number {
    return (this.#http.address() as AddressInfo).port;
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      if (!this.#http.listening) {
        resolve();
        return;
      }
      this.#http.close(() => resolve());
      this.#http.closeAllConnections();
    });
  }
}
