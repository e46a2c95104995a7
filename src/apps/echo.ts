/** Echo: every message goes back to its sender, text as text and binary as binary. */
import type { Application } from './app.js';

const echo: Application = {
  // Each message goes back during the call: a view of the bytes read is enough, and costs no copy.
  messageView: true,
  message(conn, data, isBinary) {
    conn.send(data, isBinary);
  },
};

export default echo;
