/**
 * An echo application that keeps a copy of every message it receives, as a leaking handler
 * would (a cache without a bound): `wasmsocket serve --app dist/bench/apps/hoarding-echo.js`.
 * Its memory grows outside the JS heap (Buffers), where a worker's heap limit does not reach.
 */
import type { Application } from '../../src/apps/app.js';

const kept: Buffer[] = [];

const app: Application = {
  message(conn, data, isBinary) {
    kept.push(Buffer.from(data as Uint8Array));
    conn.send(data, isBinary);
  },
};

export default app;
