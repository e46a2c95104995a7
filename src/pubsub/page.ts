/**
 * The demo page served at GET `/`: one HTML document (inline CSS and script, no framework) built on
 * `wasmsocket/client`, which it imports from the same server's `/client.js`: connect, subscribe
 * (wildcards `*` and `>`), publish; the connection state, reconnects, each subscription's offset,
 * what a reconnect recovered or could not, a live log, rate and count.
 */

/** Most log entries kept in the DOM; older ones are dropped so the page stays bounded. */
export const LOG_LIMIT = 200;

// The CSP forbids every request except WebSockets and the page's own /client.js, so the page
// cannot load anything external even by mistake; `img-src data:` covers the empty inline favicon (no /favicon.ico request).
const CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'self' 'unsafe-inline'; connect-src ws: wss:; img-src data:";

const STYLE = String.raw`
  body { font: 15px/1.4 system-ui, sans-serif; margin: 0 auto; max-width: 60rem; padding: 0 1rem 2rem; color: #1b1b1b; }
  h1 { font-size: 1.4rem; } h2 { font-size: 1.1rem; margin: 1.2rem 0 .4rem; }
  form { display: flex; flex-wrap: wrap; gap: .4rem .6rem; align-items: center; }
  input[type=text], textarea { font: 14px ui-monospace, monospace; padding: .25rem .4rem; min-width: 14rem; }
  textarea { flex: 1 1 20rem; }
  button { padding: .25rem .8rem; }
  #status[data-state=open] { color: #116611; font-weight: bold; }
  #status[data-state=connecting], #status[data-state=reconnecting] { color: #8a5a00; }
  #subscriptions .position, #log .offset { color: #666; }
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
  </form>
  <p>State: <output id="status" data-state="closed" aria-live="polite">closed</output>
    <output id="server"></output> · Reconnects: <output id="reconnects">0</output></p>
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
import { connect } from '/client.js';
const LOG_LIMIT = __LOG_LIMIT__;
const $ = (id) => document.getElementById(id);
const url = $('url'), statusEl = $('status'), serverEl = $('server'), reconnectsEl = $('reconnects'), errorEl = $('error');
const subsEl = $('subscriptions'), logEl = $('log'), rateEl = $('rate'), countEl = $('count');
const connectBtn = $('connect'), disconnectBtn = $('disconnect');

url.value = location.host ? (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/' : 'ws://127.0.0.1:8080/';

let client = null;
const subscriptions = new Map(); // pattern -> { li, subscription }
let total = 0, inWindow = 0;

function setStatus(state) {
  statusEl.dataset.state = state;
  statusEl.textContent = state;
  serverEl.textContent = client && state !== 'closed' ? client.url : '';
  reconnectsEl.textContent = client ? String(client.reconnects) : '0';
  connectBtn.disabled = state !== 'closed';
  disconnectBtn.disabled = state === 'closed';
}

function showError(code, message, topic) {
  const text = code + ': ' + message + (topic ? ' (topic ' + topic + ')' : '');
  errorEl.textContent = text;
  errorEl.dataset.code = code;
  errorEl.hidden = false;
  log('error', 'error', text);
}

function connectTo() {
  try { client = connect(url.value.trim()); } catch (e) { showError('bad_url', e.message); return; }
  const own = client;
  own.on('state', (state) => { if (client === own) setStatus(state); });
  own.on('error', (e) => { if (client === own) showError(e.code || 'error', e.message); });
  setStatus(own.state);
  for (const pattern of subscriptions.keys()) subscribeTo(pattern);
}

// A position kept through Disconnect, so that Connect recovers what was published meanwhile.
function disconnect() {
  if (!client) return;
  for (const entry of subscriptions.values()) {
    entry.position = entry.subscription && entry.subscription.position;
    markSubscription(entry.li, 'pending');
  }
  client.close();
}

function markSubscription(li, state, text) {
  li.dataset.state = state;
  li.querySelector('.state').textContent = state;
  if (text !== undefined) li.querySelector('.position').textContent = text;
}

function subscribeTo(pattern) {
  const entry = subscriptions.get(pattern);
  const subscription = client.subscribe(pattern, (data, info) => {
    total++; inWindow++;
    if (info.offset !== undefined) entry.li.querySelector('.position').textContent = 'offset ' + info.offset;
    log('message', info.topic, typeof data === 'string' ? data : JSON.stringify(data), info.offset);
  }, entry.position ? { position: entry.position } : {});
  entry.subscription = subscription;
  subscription.on('subscribed', (event) => {
    const where = event.offset === undefined ? 'no history' : 'offset ' + event.offset;
    markSubscription(entry.li, 'active', where);
    if (event.recovered) log('info', 'recovered', pattern + ': ' + (event.replayed === 0 ? 'nothing missed' : event.replayed + ' missed message(s), offsets ' + (event.offset - event.replayed + 1) + '-' + event.offset));
    else log('info', 'subscribed', pattern + (event.offset === undefined ? '' : ' at offset ' + event.offset + ', epoch ' + event.epoch));
  });
  subscription.on('unrecovered', (event) => {
    entry.li.dataset.unrecovered = event.reason;
    log('error', 'unrecovered', pattern + ': messages may have been missed (' + event.reason + ')');
  });
  subscription.on('error', (e) => { removeSubscription(pattern); showError(e.code, e.message, pattern); });
}

function addSubscription(pattern) {
  if (subscriptions.has(pattern)) return;
  if (!client) { showError('not_connected', 'connect first'); return; }
  const li = document.createElement('li');
  li.dataset.topic = pattern; li.dataset.state = 'pending';
  const code = document.createElement('code'); code.textContent = pattern;
  const state = document.createElement('span'); state.className = 'state'; state.textContent = 'pending';
  const position = document.createElement('span'); position.className = 'position';
  const button = document.createElement('button');
  button.type = 'button'; button.textContent = 'Unsubscribe'; button.className = 'unsubscribe';
  button.setAttribute('aria-label', 'Unsubscribe from ' + pattern);
  button.onclick = () => removeSubscription(pattern);
  li.append(code, ' ', state, ' ', position, ' ', button);
  subsEl.append(li);
  subscriptions.set(pattern, { li, subscription: null });
  if (client.state !== 'closed') subscribeTo(pattern);
}

function removeSubscription(pattern) {
  const entry = subscriptions.get(pattern);
  if (!entry) return;
  entry.li.remove();
  subscriptions.delete(pattern);
  if (entry.subscription) entry.subscription.unsubscribe();
}

// Entries are queued and drawn once per frame, so a fast stream costs one DOM update per frame;
// the queue and the list both stop at LOG_LIMIT.
let queue = [], drawScheduled = false;
function log(kind, label, text, offset) {
  queue.push({ kind, label, offset, text: text.length > 2000 ? text.slice(0, 2000) + '…' : text, time: new Date() });
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
    li.append(time, ' ', label, ' ');
    if (entry.offset !== undefined) {
      const offset = document.createElement('span'); offset.className = 'offset'; offset.textContent = '#' + entry.offset;
      li.append(offset, ' ');
    }
    const text = document.createElement('span'); text.className = 'data'; text.textContent = entry.text;
    li.append(text);
    fragment.append(li);
  }
  queue = [];
  logEl.prepend(fragment);
  while (logEl.childElementCount > LOG_LIMIT) logEl.lastElementChild.remove();
  countEl.textContent = String(total);
}

setInterval(() => { rateEl.textContent = String(inWindow); inWindow = 0; }, 1000);

$('connect-form').onsubmit = (event) => { event.preventDefault(); if (!client || client.state === 'closed') connectTo(); };
disconnectBtn.onclick = disconnect;
$('subscribe-form').onsubmit = (event) => {
  event.preventDefault();
  const topic = $('topic').value.trim();
  if (topic) { addSubscription(topic); $('topic').value = ''; }
};
$('publish-form').onsubmit = (event) => {
  event.preventDefault();
  if (!client || client.state === 'closed') { showError('not_connected', 'connect first'); return; }
  const raw = $('publish-data').value;
  let data = raw;
  if ($('publish-json').checked) {
    try { data = JSON.parse(raw); } catch (e) { showError('bad_json', 'data is not valid JSON: ' + e.message); return; }
  }
  const topic = $('publish-topic').value.trim();
  client.publish(topic, data).then(
    (ack) => log('info', 'published', topic + (ack.offset === undefined ? '' : ' at offset ' + ack.offset)),
    (e) => showError(e.code || 'error', e.message, topic));
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
<body>${BODY}<script type="module">${SCRIPT.replace('__LOG_LIMIT__', String(LOG_LIMIT))}</script>
</body>
</html>
`;
}
