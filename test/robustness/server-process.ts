/**
 * A wasmsocket server in a child process, so that a test can read its memory and starve it of
 * file descriptors without touching the test's own process; and a peer that stops reading.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { get } from 'node:http';
import { get as getSecure } from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { ExecutionContext } from 'ava';
import { ping } from '../helpers/raw-client.js';

export const fixture = (name: string): string => fileURLToPath(new URL(`../fixtures/${name}.js`, import.meta.url));
export const cli = fileURLToPath(new URL('../../src/cli.js', import.meta.url));

export interface ServerProcess {
  child: ChildProcess;
  port: number;
  /** Everything it wrote to stderr so far (its warning and error log lines among it). */
  readonly stderr: string;
  /** Everything it wrote to stdout so far (its info log lines). */
  readonly stdout: string;
  exited: Promise<number | null>;
}

/**
 * Runs `command` (argv after node) in a child, killed at teardown; resolves once it prints its
 * port (`listening N` or the CLI's `ws://host:N/`). `shell` wraps it, e.g. `ulimit -n 200; exec`.
 */
export async function startServerProcess(t: ExecutionContext, args: string[], shellPrefix?: string): Promise<ServerProcess> {
  const quoted = [process.execPath, ...args].map((arg) => `'${arg.replaceAll("'", "'\\''")}'`).join(' ');
  const child = shellPrefix === undefined
    ? spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn('bash', ['-c', `${shellPrefix} exec ${quoted}`], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => { child.kill('SIGKILL'); });
  let stdout = '';
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (text: string) => { stderr += text; });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout!.setEncoding('utf8').on('data', (text: string) => {
      stdout += text;
      const match = /listening (\d+)|listening on wss?:\/\/[^\s]*:(\d+)\//.exec(stdout);
      if (match) resolve(Number(match[1] ?? match[2]));
    });
    void exited.then((code) => reject(new Error(`server exited ${code}: ${stdout}${stderr}`)));
  });
  return { child, port, get stderr() { return stderr; }, get stdout() { return stdout; }, exited };
}

/** The child's resident memory in bytes: now (VmRSS), or its peak so far (VmHWM). */
export function rssOf(child: ChildProcess, which: 'now' | 'peak' = 'now'): number {
  const field = which === 'now' ? 'VmRSS' : 'VmHWM';
  const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
  if (match === null) throw new Error(`no ${field} in /proc/${child.pid}/status`);
  return Number(match[1]) * 1024;
}

/** GET /healthz (over TLS with `secure`): its status code and JSON body; rejects when the connection fails. */
export function healthz(port: number, secure = false): Promise<{ status: number; body: Record<string, any> }> {
  return new Promise((resolve, reject) => {
    const options = { host: '127.0.0.1', port, path: '/healthz', agent: false, rejectUnauthorized: false };
    const request = (secure ? getSecure : get)(options, (response) => {
      let body = '';
      response.setEncoding('utf8').on('data', (text: string) => { body += text; });
      response.on('end', () => resolve({ status: response.statusCode!, body: JSON.parse(body) }));
    });
    request.setTimeout(20_000, () => request.destroy(new Error('no /healthz answer')));
    request.on('error', reject);
  });
}

/**
 * A WebSocket client that reads nothing after the handshake until `readToClose()`: its server
 * sees a peer whose queue only grows.
 */
export class SilentPeer {
  private constructor(readonly socket: net.Socket) {}

  /** With `secure`, over TLS (wss://, any certificate accepted); `deflate` offers permessage-deflate. */
  static async open(port: number, secure = false, deflate = false): Promise<SilentPeer> {
    const socket = secure
      ? tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false })
      : net.connect({ host: '127.0.0.1', port });
    socket.on('error', () => { /* a reset once the server drops us: 'close' follows */ });
    await new Promise((resolve) => socket.once(secure ? 'secureConnect' : 'connect', resolve));
    socket.write(`GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n`
      + `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n`
      + `${deflate ? 'Sec-WebSocket-Extensions: permessage-deflate\r\n' : ''}\r\n`);
    let head = Buffer.alloc(0);
    while (head.indexOf('\r\n\r\n') < 0) {
      const [chunk] = await new Promise<[Buffer]>((resolve) => socket.once('data', (data: Buffer) => resolve([data])));
      head = Buffer.concat([head, chunk]);
    }
    socket.pause();
    if (!head.toString('latin1').startsWith('HTTP/1.1 101 ')) throw new Error(`refused: ${head.toString('latin1')}`);
    if (deflate && !/^sec-websocket-extensions: permessage-deflate/im.test(head.toString('latin1'))) throw new Error('permessage-deflate not agreed');
    const peer = new SilentPeer(socket);
    peer.#rest = head.subarray(head.indexOf('\r\n\r\n') + 4);
    return peer;
  }

  #rest: Buffer = Buffer.alloc(0);

  /** Queues bytes for the server (the client side's own queue may grow: it is this process). */
  send(bytes: Uint8Array): void {
    if (!this.socket.destroyed) this.socket.write(bytes);
  }

  /**
   * Reads everything the server sent, skipping data frames, until its close frame or TCP's end:
   * the close code (undefined without a close frame) and how many data frames came before it.
   * After `stopAfter` data frames it pings: a pong (code undefined) says the server is not closing.
   */
  readToClose(stopAfter = Infinity): Promise<{ code: number | undefined; reason: string; dataFrames: number }> {
    return new Promise((resolve) => {
      let buffered = this.#rest;
      let dataFrames = 0;
      const done = (code: number | undefined, reason = ''): void => {
        this.socket.removeAllListeners('data');
        this.socket.destroy();
        resolve({ code, reason, dataFrames });
      };
      const scan = (): void => {
        for (;;) {
          if (buffered.length < 2) return;
          const length7 = buffered[1] & 0x7f;
          const offset = length7 < 126 ? 2 : length7 === 126 ? 4 : 10;
          if (buffered.length < offset) return;
          const length = length7 < 126 ? length7 : length7 === 126 ? buffered.readUInt16BE(2) : Number(buffered.readBigUInt64BE(2));
          if (buffered.length < offset + length) return;
          const opcode = buffered[0] & 0x0f;
          if (opcode === 0x8) {
            const payload = buffered.subarray(offset, offset + length);
            done(payload.length >= 2 ? payload.readUInt16BE(0) : 1005, payload.subarray(2).toString('utf8'));
            return;
          }
          if (opcode === 0xa) {
            done(undefined);
            return;
          }
          // A ping after the last expected message: its pong comes back only if the server is
          // not closing, and after any close frame already queued.
          if (opcode < 0x8 && ++dataFrames === stopAfter) this.socket.write(ping());
          buffered = buffered.subarray(offset + length);
        }
      };
      this.socket.on('data', (chunk: Buffer) => {
        buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
        scan();
      });
      this.socket.once('close', () => done(undefined));
      scan();
      this.socket.resume();
    });
  }

  destroy(): void {
    this.socket.destroy();
  }
}
