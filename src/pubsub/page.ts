/**
 * The browser client served at GET `/`: one self-contained HTML document (inline CSS and JS, no
 * framework, no external requests) that speaks the pub/sub JSON protocol over the browser's own
 * `WebSocket`: connect, subscribe (wildcards `*` and `>`), publish, live log, rate and count.
 * It keeps the last offset and epoch of each exact topic it subscribed to, and on reconnecting
 * subscribes with `recover`: what was published while it was away is replayed, and logged.
 */

/** Most log entries kept in the DOM; older ones are dropped so the page stays bounded. */
export const LOG_LIMIT = 200;

// The CSP forbids every request except WebSockets, so the page cannot load anything external
// even by mistake; `img-src data:` covers the empty inline favicon (no /favicon.ico request).
const CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; connect-src ws: wss:; img-src data:";

const STYLE = String.raw`
  body { font: 15px/1.4 system-ui, sans-serif; margin: 0 auto; max-width: 60rem; padding: 0 1rem 2rem; color: #1b1b1b; }
  h1 { font-size: 1.4rem; } h2 { font-size: 1.1rem; margin: 1.2rem 0 .4rem; }
  form { display: flex; flex-wrap: wrap; gap: .4rem .6rem; align-items: center; }
  input[type=text], textarea { font: 14px ui-monospace, monospace; padding: .25rem .4rem; min-width: 14rem; }
  textarea { flex: 1 1 20rem; }
  button { padding: .25rem .8rem; }
  #status[data-state=open] { color: #116611; font-weight: bold; }
  #status[data-state=connecting] { color: #8a5a00; }
  #status[data-state=closed] { color: #a11; }
  #error { background: #fde8e8; border-left: 4px solid #a11; padding: .3rem .6rem; }
  #subscriptions { list-style: none; padding: 0; display: flex; flex-wrap: wrap; gap: .4rem; }
  #subscriptions li { border: 1px solid #bbb; border-radius: 4px; padding: .15rem .2rem .15rem .5rem; }
  #subscriptions li[data-state=pending] { opacity: .6; }
  #log { list-style: none; padding: 0; font: 13px ui-monospace, monospace; max-height: 28rem; overflow-y: auto; border: 1px solid #ddd; }
  #log:empty { border: none; }
  #log li { padding: .1rem .4rem; border-bottom: 1px solid #eee; overflow-wrap: anywhere; }
  #log li[data-kind=error] { background: #fde8e8; }
  #log li[data-kind=info] { color: #666; }
  #log .topic { color: #0645ad; margin: 0 .5rem; }
  #log time { color: #888; }
`;

const BODY = String.raw`
<main>
<h1>wasmsocket pub/sub</h1>
<section aria-labelledby="h-connection">
  <h2 id="h-connection">Connection</h2>
  <form id="connect-form">
    <label for="url">Server URL</label>
    <input id="url" type="text" spellcheck="false" autocomplete="off">
    <button id="connect" type="submit">Connect</button>
    <button id="disconnect" type="button" disabled>Disconnect</button>
    <label><input id="auto-reconnect" type="checkbox" checked> Reconnect automatically</label>
  </form>
  <p>State: <output id="status" data-state="closed" aria-live="polite">closed</output>
    <span id="reconnect" aria-live="polite"></span></p>
  <p id="error" role="alert" hidden></p>
</section>
<section aria-labelledby="h-subscriptions">
  <h2 id="h-subscriptions">Subscriptions</h2>
  <form id="subscribe-form">
    <label for="topic">Topic pattern</label>
    <input id="topic" type="text" required spellcheck="false" placeholder="news.* or news.&gt;">
    <button id="subscribe" type="submit">Subscribe</button>
  </form>
  <ul id="subscriptions" aria-label="Subscriptions"></ul>
</section>
<section aria-labelledby="h-publish">
  <h2 id="h-publish">Publish</h2>
  <form id="publish-form">
    <label for="publish-topic">Topic</label>
    <input id="publish-topic" type="text" required spellcheck="false" placeholder="news.sport">
    <label for="publish-data">Data</label>
    <textarea id="publish-data" rows="2" spellcheck="false"></textarea>
    <label><input id="publish-json" type="checkbox"> Send data as a JSON value (else as a string)</label>
    <button id="publish" type="submit">Publish</button>
  </form>
</section>
<section aria-labelledby="h-messages">
  <h2 id="h-messages">Messages</h2>
  <p>Rate: <output id="rate">0</output> msg/s · Total: <output id="count">0</output>
    <button id="clear-log" type="button">Clear log</button></p>
  <ol id="log" aria-label="Message log, newest first" aria-live="off"></ol>
</section>
</main>
`;

const SCRIPT = String.raw`
'use strict';
const LOG_LIMIT = __LOG_LIMIT__;
const $ = (id) => document.getElementById(id);
const url = $('url'), statusEl = $('status'), reconnectEl = $('reconnect'), errorEl = $('error');
const subsEl = $('subscriptions'), logEl = $('log'), rateEl = $('rate'), countEl = $('count');
const connectBtn = $('connect'), disconnectBtn = $('disconnect'), autoReconnect = $('auto-reconnect');

url.value = location.host ? (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/' : 'ws://127.0.0.1:8080/';

let ws = null;
let reconnectTimer = 0, reconnectAttempts = 0;
/** Exact topic → { offset, epoch }: the last position seen, for recovery after a reconnect. */
const positions = new Map();
const subscriptions = new Map(); // pattern -> <li>, data-state pending | active
let total = 0, inWindow = 0;

function setStatus(state, text) {
  statusEl.dataset.state = state;
  statusEl.textContent = text || state;
  const live = state === 'open' || state === 'connecting';
  connectBtn.disabled = live;
  disconnectBtn.disabled = !live && !reconnectTimer;
}

function showError(code, message, topic) {
  const text = code + ': ' + message + (topic ? ' (topic ' + topic + ')' : '');
  errorEl.textContent = text;
  errorEl.dataset.code = code;
  errorEl.hidden = false;
  log('error', 'error', text);
}

function send(msg) {
  if (!ws || ws.readyState !== WebSocket.OPEN) { showError('not_connected', 'connect first'); return false; }
  ws.send(JSON.stringify(msg));
  return true;
}

function connect() {
  clearTimeout(reconnectTimer); reconnectTimer = 0; reconnectEl.textContent = '';
  let socket;
  try { socket = new WebSocket(url.value.trim()); } catch (e) { showError('bad_url', e.message); return; }
  socket.binaryType = 'arraybuffer';
  ws = socket;
  setStatus('connecting');
  socket.onopen = () => {
    if (ws !== socket) return;
    reconnectAttempts = 0;
    setStatus('open');
    // The server forgets subscriptions with the connection: ask again for every one we hold.
    // With the last position seen of an exact topic, the missed messages are replayed first.
    for (const [pattern, li] of subscriptions) { li.dataset.state = 'pending'; li.querySelector('.state').textContent = 'pending'; send(subscribeRequest(pattern)); }
  };
  socket.onmessage = (event) => { if (ws === socket) receive(event.data); };
  socket.onclose = (event) => {
    if (ws !== socket) return;
    ws = null;
    for (const li of subscriptions.values()) { li.dataset.state = 'pending'; li.querySelector('.state').textContent = 'pending'; }
    setStatus('closed', 'closed (' + event.code + (event.reason ? ': ' + event.reason : '') + ')');
    if (!socket.manualClose && autoReconnect.checked) scheduleReconnect();
  };
}

function subscribeRequest(topic) {
  const position = positions.get(topic);
  return position ? { type: 'subscribe', topic, recover: position } : { type: 'subscribe', topic };
}

function scheduleReconnect() {
  // Exponential backoff with jitter, 0.5 s doubling up to 10 s; reset by a successful open.
  const delay = Math.min(10000, 500 * 2 ** reconnectAttempts++) * (0.75 + Math.random() / 2);
  reconnectEl.textContent = '— reconnecting in ' + (delay / 1000).toFixed(1) + ' s';
  reconnectTimer = setTimeout(connect, delay);
  disconnectBtn.disabled = false;
}

function disconnect() {
  clearTimeout(reconnectTimer); reconnectTimer = 0; reconnectEl.textContent = '';
  if (ws) { ws.manualClose = true; ws.close(1000, 'bye'); setStatus('closing'); disconnectBtn.disabled = true; }
  else disconnectBtn.disabled = true; // only a pending reconnect was left to cancel
}

function receive(raw) {
  if (typeof raw !== 'string') { log('info', 'binary', raw.byteLength + ' bytes'); return; }
  let msg;
  try { msg = JSON.parse(raw); } catch { log('error', 'unparsed', raw); return; }
  switch (msg && msg.type) {
    case 'message':
      total++; inWindow++;
      if (typeof msg.offset === 'number' && positions.has(msg.topic)) positions.get(msg.topic).offset = msg.offset;
      log('message', msg.topic, typeof msg.data === 'string' ? msg.data : JSON.stringify(msg.data));
      break;
    case 'subscribed': {
      const li = subscriptions.get(msg.topic);
      if (li) { li.dataset.state = 'active'; li.querySelector('.state').textContent = 'active'; }
      if (typeof msg.epoch === 'string') {
        const before = positions.get(msg.topic);
        if (msg.recovered === true) log('info', 'recovered', msg.topic + ': ' + (msg.offset - before.offset) + ' missed message(s), offsets ' + (before.offset + 1) + '-' + msg.offset);
        else if (msg.recovered === false) log('info', 'not recovered', msg.topic + ': history lost or too old; now at offset ' + msg.offset);
        if (msg.recovered !== true) positions.set(msg.topic, { offset: msg.offset, epoch: msg.epoch });
      }
      if (msg.recovered === undefined) log('info', 'subscribed', msg.topic);
      break;
    }
    case 'unsubscribed': log('info', 'unsubscribed', msg.topic); break;
    case 'error': {
      const li = msg.topic !== undefined && subscriptions.get(msg.topic);
      if (li && li.dataset.state === 'pending') removeSubscription(msg.topic);
      showError(String(msg.code), String(msg.message), msg.topic);
      break;
    }
    default: log('info', String(msg && msg.type), raw);
  }
}

function addSubscription(pattern) {
  if (subscriptions.has(pattern)) return;
  const li = document.createElement('li');
  li.dataset.topic = pattern; li.dataset.state = 'pending';
  const code = document.createElement('code'); code.textContent = pattern;
  const state = document.createElement('span'); state.className = 'state'; state.textContent = 'pending';
  const button = document.createElement('button');
  button.type = 'button'; button.textContent = 'Unsubscribe'; button.className = 'unsubscribe';
  button.setAttribute('aria-label', 'Unsubscribe from ' + pattern);
  button.onclick = () => { if (ws && ws.readyState === WebSocket.OPEN) send({ type: 'unsubscribe', topic: pattern }); removeSubscription(pattern); positions.delete(pattern); };
  li.append(code, ' ', state, ' ', button);
  subsEl.append(li);
  subscriptions.set(pattern, li);
  if (ws && ws.readyState === WebSocket.OPEN) send({ type: 'subscribe', topic: pattern });
}

function removeSubscription(pattern) {
  const li = subscriptions.get(pattern);
  if (li) { li.remove(); subscriptions.delete(pattern); }
}

// Entries are queued and drawn once per frame, so a fast stream costs one DOM update per frame;
// the queue and the list both stop at LOG_LIMIT.
let queue = [], drawScheduled = false;
function log(kind, label, text) {
  queue.push({ kind, label, text: text.length > 2000 ? text.slice(0, 2000) + '…' : text, time: new Date() });
  if (queue.length > LOG_LIMIT) queue.splice(0, queue.length - LOG_LIMIT);
  if (!drawScheduled) { drawScheduled = true; if (document.hidden) setTimeout(draw, 100); else requestAnimationFrame(draw); }
}

function draw() {
  drawScheduled = false;
  const fragment = document.createDocumentFragment();
  for (let i = queue.length - 1; i >= 0; i--) {
    const entry = queue[i];
    const li = document.createElement('li');
    li.dataset.kind = entry.kind;
    const time = document.createElement('time');
    time.dateTime = entry.time.toISOString();
    time.textContent = entry.time.toTimeString().slice(0, 8) + '.' + String(entry.time.getMilliseconds()).padStart(3, '0');
    const label = document.createElement('span'); label.className = entry.kind === 'message' ? 'topic' : 'label'; label.textContent = entry.label;
    const text = document.createElement('span'); text.className = 'data'; text.textContent = entry.text;
    li.append(time, ' ', label, ' ', text);
    fragment.append(li);
  }
  queue = [];
  logEl.prepend(fragment);
  while (logEl.childElementCount > LOG_LIMIT) logEl.lastElementChild.remove();
  countEl.textContent = String(total);
}

setInterval(() => { rateEl.textContent = String(inWindow); inWindow = 0; }, 1000);

$('connect-form').onsubmit = (event) => { event.preventDefault(); if (!ws) connect(); };
disconnectBtn.onclick = disconnect;
$('subscribe-form').onsubmit = (event) => {
  event.preventDefault();
  const topic = $('topic').value.trim();
  if (topic) { addSubscription(topic); $('topic').value = ''; }
};
$('publish-form').onsubmit = (event) => {
  event.preventDefault();
  const raw = $('publish-data').value;
  let data = raw;
  if ($('publish-json').checked) {
    try { data = JSON.parse(raw); } catch (e) { showError('bad_json', 'data is not valid JSON: ' + e.message); return; }
  }
  send({ type: 'publish', topic: $('publish-topic').value.trim(), data });
};
$('clear-log').onclick = () => { queue = []; logEl.replaceChildren(); };
`;

/** The client page as one HTML document. */
export function pubsubPage(): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>wasmsocket pub/sub</title>
<link rel="icon" href="data:,">
<style>${STYLE}</style>
</head>
<body>${BODY}<script>${SCRIPT.replace('__LOG_LIMIT__', String(LOG_LIMIT))}</script>
</body>
</html>
`;
}
