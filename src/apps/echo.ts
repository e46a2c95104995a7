/** Echo: every message goes back to its sender, text as text and binary as binary. */
import type { Application } from './app.js';

const echo: Application = {
  message(conn, data, isBinary) {
    conn.send(data, isBinary);
  },
};

export default echo;
