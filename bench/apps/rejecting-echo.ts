/**
 * An echo application with an async message handler: "reject" makes its promise reject (the
 * attack of bench:attacks' async-reject row), anything else is echoed back.
 */
import type { Application } from '../../src/apps/app.js';

const app: Application = {
  async message(conn, data, isBinary) {
    await Promise.resolve();
    if (data.length === 6 && data.toString() === 'reject') throw new Error('rejection on purpose');
    conn.send(data, isBinary);
  },
};

export default app;
