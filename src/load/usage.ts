/** `wasmsocket load --help`. */
import { LOAD_DEFAULTS } from './options.js';
import { ECHO_MIN_SIZE } from './payload.js';
import { PUBLISH_MIN_SIZE } from './pubsub-format.js';

export const LOAD_USAGE = `Usage: wasmsocket load ws[s]://HOST:PORT/PATH [options]

Opens many WebSocket connections to any RFC 6455 server and measures it.

Options:
  --scenario echo|broadcast|connect|reconnect-storm|./FILE.mjs
                         echo: round trips; broadcast: pub/sub deliveries; connect: open and hold;
                         reconnect-storm: drop every connection at once and reopen them all;
                         ./FILE.mjs: your own protocol, a module with hooks (default ${LOAD_DEFAULTS.scenario}, or
                         broadcast when one probe connection finds wasmsocket's pub/sub app)
  --connections N        connections (broadcast: subscribers) (default ${LOAD_DEFAULTS.connections})
  --publishers N         broadcast: publishing connections, on top of the subscribers (default ${LOAD_DEFAULTS.publishers})
  --ramp PER_SECOND      new connections per second, 0 = all at once (default ${LOAD_DEFAULTS.ramp})
  --size BYTES           message size (echo ≥ ${ECHO_MIN_SIZE}, broadcast data ≥ ${PUBLISH_MIN_SIZE}) (default ${LOAD_DEFAULTS.size})
  --binary               send binary messages (default: ASCII text)
  --payload ascii|json   text after the stamp: 'a' padding, or generated JSON-like text that
                         compresses like real data (default ascii)
  --deflate              offer permessage-deflate (RFC 7692): compress what is sent from 1 KiB,
                         inflate what comes compressed; the summary says where it was agreed
  --deflate-no-context-takeover
                         with --deflate: ask both sides to reset their compressor per message
  --in-flight K          echo: messages in flight per connection (default ${LOAD_DEFAULTS.inFlight});
                         broadcast: closed loop, each publisher at most K publishes ahead of the
                         slowest subscriber (the most the server delivers)
  --rate MSGS_PER_S      fixed total send rate instead (open loop; broadcast: publishes/s,
                         default ${LOAD_DEFAULTS.broadcastRate} without --in-flight)
  --duration S           seconds to run, then close with 1000 (default ${LOAD_DEFAULTS.durationS})
  --stages D:N,D:N,...   open connections over time instead of --connections/--duration/--ramp,
                         each stage a linear ramp to N over D (e.g. 30s:1000,60s:1000,10s:0)
  --storm-interval S     reconnect-storm: seconds between storms (default ${LOAD_DEFAULTS.stormIntervalS})
  --threshold 'EXPR'     pass/fail, repeatable: METRIC OP NUMBER, METRIC one of p50 p90 p99 p99_9 max
                         (latency ms), rate (received/s), errors, lost; OP < <= > >= ==; exit 1 if one fails
  --out FILE.csv|FILE.html|FILE.json
                         write the per-second series (csv), a report with charts (html, one
                         self-contained file) or the JSON summary (json); repeatable
  --quiet                no progress line
  --progress-interval S  seconds between progress lines (default 1 on a terminal, 5 otherwise)
  --threads T            worker threads in all (default ${LOAD_DEFAULTS.threads}: the main thread)
  --processes P          processes (default: as many as the open-file limit requires)
  --source-ips A-B|A,B   local addresses to bind, round-robin (e.g. 127.0.0.1-127.0.0.20)
  --topic T              broadcast topic (default ${LOAD_DEFAULTS.topic})
  --codec js|wasm        client framing codec (default ${LOAD_DEFAULTS.codec})
  --timeout S            handshake timeout, TCP connect to 101 (default ${LOAD_DEFAULTS.timeoutS})
  --insecure             wss://: accept a certificate that does not verify (self-signed)
  --json                 print one JSON object at the end (no progress line unless --progress-interval)
  -h, --help             show this help
`;
