/**
 * The conformance harness: every case runs against one echo server per variant (codec ×
 * inline or worker mode), started once per test file.
 */
import type { ExecutionContext, TestFn } from 'ava';
import type { CodecKind } from '../../src/codec/codec.js';
import type { Utf8ValidatorChoice } from '../../src/protocol/protocol.js';
import { listen, type ServerOptions, type WasmSocketServer } from '../../src/main-thread/server.js';

interface Variant {
  codec: CodecKind;
  workers: number;
  utf8Validator: Utf8ValidatorChoice;
  /** Handlers get views valid only during the call (the echo sends them back). */
  messageView?: boolean;
  label: string;
}

/**
 * Both codecs, inline and with 1 and 2 workers: the same RFC rules must hold in every mode.
 * UTF-8 is checked by the default 'native' validator choice, and inline also by each codec's own
 * scan. Message views (messageView) inline with both codecs, and with 1 worker.
 */
export const VARIANTS: readonly Variant[] = (['js', 'wasm'] as const).flatMap((codec) => [
  ...[0, 1, 2].map((workers) => ({
    codec, workers, utf8Validator: 'native' as const,
    label: workers === 0 ? codec : `${codec}, ${workers} worker${workers > 1 ? 's' : ''}`,
  })),
  { codec, workers: 0, utf8Validator: 'codec' as const, label: `${codec}, codec UTF-8` },
  { codec, workers: 0, utf8Validator: 'native' as const, messageView: true, label: `${codec}, message view` },
  ...(codec === 'wasm' ? [{ codec, workers: 1, utf8Validator: 'native' as const, messageView: true, label: `${codec}, message view, 1 worker` }] : []),
]);

type ConformanceRun = (t: ExecutionContext, port: number) => Promise<void>;

export interface Conformance {
  /** Registers `run` once per variant, as concurrent tests. */
  (title: string, run: ConformanceRun): void;
  /** The same, as serial tests: they run one at a time, before the concurrent ones. */
  serial(title: string, run: ConformanceRun): void;
}

/**
 * Starts the variants' servers before the file's tests and closes them after; returns
 * `conformance(title, run)`. `test` is the test file's own ava import.
 */
export function conformanceSuite(test: TestFn, options: Partial<ServerOptions> = {}): Conformance {
  const servers = new Map<Variant, WasmSocketServer>();
  test.before(async () => {
    for (const variant of VARIANTS) {
      servers.set(variant, await listen({
        host: '127.0.0.1', port: 0, app: 'echo', codec: variant.codec, workers: variant.workers, utf8Validator: variant.utf8Validator,
        messageView: variant.messageView ?? false,
        maxPayload: 16 * 1024 * 1024, closeTimeoutMs: 1000, ...options,
      }));
    }
  });
  test.after.always(async () => {
    await Promise.all([...servers.values()].map((server) => server.close()));
  });
  const register = (serial: boolean) => (title: string, run: ConformanceRun): void => {
    for (const variant of VARIANTS) {
      (serial ? test.serial : test)(`${title} [${variant.label}]`, async (t) => {
        const server = servers.get(variant);
        if (server === undefined) throw new Error(`no ${variant.label} server`);
        await run(t, server.port);
      });
    }
  };
  return Object.assign(register(false), { serial: register(true) });
}
