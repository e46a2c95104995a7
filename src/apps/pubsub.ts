/**
 * Placeholder for the pub/sub application (topics, fan-out, Redis backplane), which a later
 * issue fills in. Until then it tells the client so instead of silently dropping its messages.
 */
import type { Application } from './app.js';

const pubsub: Application = {
  message(conn) {
    conn.send(JSON.stringify({ type: 'error', code: 'not_implemented', message: 'pub/sub is not available yet' }));
  },
};

export default pubsub;
