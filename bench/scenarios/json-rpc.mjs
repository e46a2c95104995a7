// A scenario module for `wasmsocket load --scenario bench/scenarios/json-rpc.mjs`: it load-tests a
// JSON-RPC 2.0 server over WebSocket. Every connection calls "sum" every 100 ms and times each
// answer from its call (matched by the JSON-RPC id); an error answer or a wrong sum is counted as
// an error of its own kind.

/** Milliseconds between two calls on one connection (--rate replaces it with a total rate). */
export const intervalMs = 100;

/** Once per connection, when its handshake completes: set up this connection's state. */
export function open(conn) {
  conn.state.nextId = 1;
}

/** On the schedule: one call, sent with its id as the key its answer will be matched by. */
export function tick(conn) {
  const id = conn.state.nextId++;
  conn.send(JSON.stringify({ jsonrpc: '2.0', id, method: 'sum', params: [id, 1] }), id);
}

/** Every message the server sends: an answer to one of our calls, or an error. */
export function message(conn, data) {
  const answer = JSON.parse(data);
  if (answer.error !== undefined) {
    conn.error(`rpc-error ${answer.error.code}`);
  } else if (answer.result !== answer.id + 1) {
    conn.error('wrong-sum');
  } else {
    conn.reply(answer.id);
  }
}
