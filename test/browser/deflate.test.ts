/**
 * permessage-deflate with a real browser: headless Chromium offers it, our server accepts it
 * (with the defaults, and with context takeover both ways), and text and binary messages, small
 * and large, go back and forth through the echo app, inline and in worker mode.
 */
import test from 'ava';
import type { Browser } from 'playwright-core';
import { listen, type ServerOptions } from '../../src/main-thread/server.js';
import { launchChromium } from '../helpers/chromium.js';

const WAIT_MS = 30_000;

const CONFIGS: Array<{ name: string; deflate: ServerOptions['deflate']; agreed: string }> = [
  { name: 'the defaults', deflate: true, agreed: 'permessage-deflate; server_no_context_takeover; client_no_context_takeover' },
  { name: 'context takeover both ways', deflate: { serverNoContextTakeover: false, clientNoContextTakeover: false }, agreed: 'permessage-deflate' },
];

interface PageReport { extensions: string; echoes: Array<{ ok: boolean; size: number; binary: boolean }>; closeCode: number }

/** Runs in the page: opens the socket, echoes each message in turn, reports what came back. */
async function exchangeInPage(browser: Browser, origin: string, url: string): Promise<PageReport> {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT_MS);
  try {
    await page.goto(`${origin}/`, { timeout: WAIT_MS });
    return await page.evaluate(async (wsUrl) => {
      const ws = new WebSocket(wsUrl);
      ws.binaryType = 'arraybuffer';
      await new Promise((resolve, reject) => { ws.onopen = resolve; ws.onerror = () => reject(new Error('WebSocket error')); });
      const inbox: Array<string | ArrayBuffer> = [];
      let wake: (() => void) | undefined;
      ws.onmessage = (event) => { inbox.push(event.data as string | ArrayBuffer); wake?.(); };
      const next = async (): Promise<string | ArrayBuffer> => {
        while (inbox.length === 0) await new Promise<void>((resolve) => { wake = resolve; });
        return inbox.shift()!;
      };
      const echoes = [];
      for (const size of [5, 1023, 1024, 10_000, 64 * 1024, 128 * 1024, 600 * 1024]) {
        const text = Array.from({ length: size }, (_, i) => String.fromCharCode(97 + ((i * 7 + (i >> 6)) % 26))).join('');
        for (let repeat = 0; repeat < 2; repeat++) {
          ws.send(text);
          echoes.push({ ok: (await next()) === text, size, binary: false });
        }
        const bytes = new Uint8Array(size).map((_, i) => (i * 31 + (i >> 9)) & 0x7f);
        ws.send(bytes);
        const back = new Uint8Array((await next()) as ArrayBuffer);
        echoes.push({ ok: back.length === size && back.every((byte, i) => byte === bytes[i]), size, binary: true });
      }
      const closeCode = await new Promise<number>((resolve) => { ws.onclose = (event) => resolve(event.code); ws.close(1000); });
      return { extensions: ws.extensions, echoes, closeCode };
    }, url);
  } finally {
    await context.close();
  }
}

for (const workers of [0, 1]) {
  test.serial(`Chromium negotiates permessage-deflate with the server and exchanges compressed messages [${workers === 0 ? 'inline' : '1 worker'}]`, async (t) => {
    t.timeout(180_000);
    const browser = await launchChromium();
    t.teardown(() => browser.close());
    for (const { name, deflate, agreed } of CONFIGS) {
      const server = await listen({ host: '127.0.0.1', port: 0, app: 'echo', workers, deflate });
      try {
        const origin = `http://127.0.0.1:${server.port}`;
        const report = await exchangeInPage(browser, origin, `ws://127.0.0.1:${server.port}/`);
        t.is(report.extensions, agreed, name);
        t.deepEqual(report.echoes.filter((echo) => !echo.ok), [], `${name}: every echo intact`);
        t.is(report.echoes.length, 21);
        t.is(report.closeCode, 1000);
      } finally {
        await server.close();
      }
    }
  });
}
