/**
 * A real `redis-server` for tests, on a free port of 127.0.0.1, with no persistence.
 * `.ci/run` installs the package when missing; REDIS_SERVER overrides the binary's path.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

export interface RedisServer {
  readonly url: string;
  readonly port: number;
  /** Kills the server (SIGKILL, like a crash) and waits for it to exit. */
  stop(): Promise<void>;
  /** Kills the server, then starts a fresh one on the same port. */
  restart(): Promise<void>;
  /** Freezes the server (SIGSTOP): connections stay open but nothing is answered. */
  pause(): void;
  /** Unfreezes it (SIGCONT). */
  resume(): void;
}

const BINARY = process.env.REDIS_SERVER ?? 'redis-server';
const READY_TIMEOUT_MS = 5000;

/** Servers still running, killed if the test process exits without stopping them. */
const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/** Starts redis-server on a free port; pass `t.teardown(() => server.stop())`. */
export async function startRedisServer(): Promise<RedisServer> {
  // Another process may take the free port between probe and bind: try a few.
  let lastError: unknown;
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    try {
      let child = await launch(port);
      const server: RedisServer = {
        url: `redis://127.0.0.1:${port}`,
        port,
        stop: () => kill(child),
        restart: async () => {
          await kill(child);
          child = await launch(port);
        },
        pause: () => { child.kill('SIGSTOP'); },
        resume: () => { child.kill('SIGCONT'); },
      };
      return server;
    } catch (error) {
      lastError = error;
    }
  }
  throw lastError;
}

async function freePort(): Promise<number> {
  const probe = net.createServer();
  probe.listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const { port } = probe.address() as net.AddressInfo;
  probe.close();
  await once(probe, 'close');
  return port;
}

async function launch(port: number): Promise<ChildProcess> {
  const child = spawn(BINARY, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  let output = '';
  const collect = (chunk: Buffer) => { if (output.length < 4096) output += chunk.toString(); };
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  let exited = false;
  let spawnError: Error | undefined;
  child.once('error', (error) => { spawnError = error; });
  child.once('exit', () => { exited = true; running.delete(child); });
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (!(await ping(port))) {
    if (spawnError !== undefined) {
      throw new Error(`cannot run ${BINARY} (${spawnError.message}); install the redis-server package`);
    }
    if (exited) throw new Error(`redis-server on port ${port} exited early:\n${output}`);
    if (Date.now() > deadline) {
      await kill(child);
      throw new Error(`redis-server on port ${port} did not answer PING within ${READY_TIMEOUT_MS} ms:\n${output}`);
    }
    await sleep(20);
  }
  return child;
}

/** True when something on the port answers PING with PONG. */
function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let reply = '';
    const done = (ok: boolean) => { socket.destroy(); resolve(ok); };
    socket.setTimeout(500, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      reply += chunk.toString();
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG'));
    });
  });
}

async function kill(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGKILL');
  await exited;
}

/** A TCP proxy in front of a Redis: lets a test cut one node's link while others keep theirs. */
export interface RedisLink {
  readonly url: string;
  /** Drops every proxied connection and refuses new ones (accepted, then closed at once). */
  cut(): void;
  /** Proxies new connections again. */
  restore(): void;
  /** New connections are accepted and wait, unanswered, until release(): a Redis not reached yet. */
  hold(): void;
  /** Proxies the held connections and new ones. */
  release(): void;
  close(): Promise<void>;
}

export async function startRedisLink(target: RedisServer): Promise<RedisLink> {
  const open = new Set<net.Socket>();
  let cut = false;
  let held: net.Socket[] | undefined;
  const proxy = (client: net.Socket) => {
    if (client.destroyed) return;
    const upstream = net.connect(target.port, '127.0.0.1');
    open.add(client).add(upstream);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      open.delete(client);
      open.delete(upstream);
    };
    for (const socket of [client, upstream]) {
      socket.on('error', drop);
      socket.on('close', drop);
    }
    client.pipe(upstream);
    upstream.pipe(client);
  };
  const server = net.createServer((client) => {
    if (cut) {
      client.destroy();
    } else if (held !== undefined) {
      client.on('error', () => client.destroy());
      held.push(client);
    } else {
      proxy(client);
    }
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `redis://127.0.0.1:${port}`,
    cut: () => {
      cut = true;
      for (const socket of open) socket.destroy();
    },
    restore: () => { cut = false; },
    hold: () => { held ??= []; },
    release: () => {
      const waiting = held ?? [];
      held = undefined;
      waiting.forEach(proxy);
    },
    close: async () => {
      for (const socket of [...open, ...(held ?? [])]) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
