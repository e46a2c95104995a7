/**
 * Worker entry, run by Piscina as one long-lived task per worker thread. The task owns a
 * MessagePort to the main thread; the connections bound to this worker live here: their
 * protocol state machines, their application handlers and the application's own state.
 */
import type { MessagePort } from 'node:worker_threads';
import type { CodecKind, FrameCodec } from '../codec/codec.js';
import type { Utf8ValidatorChoice } from '../protocol/protocol.js';
import { createCodec } from '../codec/select.js';
import { loadApplication, type Application } from '../apps/app.js';
import { AppConnection, type Transport } from '../apps/app-connection.js';
import { BatchBuilder, readToWorker, ToMain, ToWorker, type Batch } from './batch.js';

export interface WorkerTask {
  port: MessagePort;
  app: string;
  codec: CodecKind;
  maxPayload: number;
  utf8Validator: Utf8ValidatorChoice;
}

/** The WASM module is instantiated once per worker, whatever the number of tasks. */
const codecs = new Map<CodecKind, FrameCodec>();
function codecFor(kind: CodecKind): FrameCodec {
  let codec = codecs.get(kind);
  if (codec === undefined) {
    codec = createCodec(kind);
    codecs.set(kind, codec);
  }
  return codec;
}

/** Collects this turn's outbound operations and sends them as one batch. */
class OutboundChannel {
  readonly builder = new BatchBuilder();
  readonly #port: MessagePort;
  #scheduled = false;
  /** Transports with bytes written since the last flush (their `unflushed` count resets). */
  readonly #dirty = new Set<WorkerTransport>();

  constructor(port: MessagePort) {
    this.#port = port;
  }

  touched(transport: WorkerTransport): void {
    this.#dirty.add(transport);
    // Handlers called from timers or promises still produce a single batch per turn.
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  flush(): void {
    this.#scheduled = false;
    if (this.builder.isEmpty) return;
    for (const transport of this.#dirty) transport.unflushed = 0;
    this.#dirty.clear();
    const { batch, transfer } = this.builder.take();
    this.#port.postMessage(batch, transfer);
  }
}

/** A connection's transport inside a worker: its operations go to the main thread in the batch. */
class WorkerTransport implements Transport {
  /** Bytes queued on the socket as last reported by the main thread (PAUSE); 0 after DRAIN. */
  socketBuffered = 0;
  unflushed = 0;
  paused = false;
  /** Chunks that arrived while paused, dispatched at DRAIN. */
  held: Uint8Array[] = [];

  constructor(readonly id: number, readonly channel: OutboundChannel) {}

  get bufferedAmount(): number {
    return this.socketBuffered + this.unflushed;
  }

  write(first: Uint8Array, second?: Uint8Array): void {
    this.channel.builder.write(this.id, first, second);
    this.unflushed += first.length + (second === undefined ? 0 : second.length);
    this.channel.touched(this);
  }

  end(): void {
    this.channel.builder.op(ToMain.END, this.id);
    this.channel.touched(this);
  }

  closing(): void {
    this.channel.builder.op(ToMain.CLOSING, this.id);
    this.channel.touched(this);
  }

  subscribe(pattern: string): void {
    this.channel.builder.text(ToMain.SUBSCRIBE, this.id, pattern);
    this.channel.touched(this);
  }

  unsubscribe(pattern: string): void {
    this.channel.builder.text(ToMain.UNSUBSCRIBE, this.id, pattern);
    this.channel.touched(this);
  }

  publish(topic: string, payload: Uint8Array, isBinary: boolean): void {
    this.channel.builder.bytesAndText(isBinary ? ToMain.PUBLISH_BINARY : ToMain.PUBLISH_TEXT, this.id, payload, topic);
    this.channel.touched(this);
  }
}

interface Bound {
  conn: AppConnection;
  transport: WorkerTransport;
}

export default async function runWorker(task: WorkerTask): Promise<void> {
  const app: Application = await loadApplication(task.app);
  const codec = codecFor(task.codec);
  const channel = new OutboundChannel(task.port);
  const connections = new Map<number, Bound>();

  const onError = (error: Error, id: number) => {
    channel.builder.text(ToMain.ERROR, id, error.stack ?? error.message);
  };

  const handle = (op: number, id: number, argument: number, bytes: Uint8Array | undefined, text: string | undefined): void => {
    if (op === ToWorker.OPEN) {
      const transport = new WorkerTransport(id, channel);
      const conn = new AppConnection(codec, app, transport, {
        id, subprotocol: text === '' ? undefined : text, maxPayload: task.maxPayload, utf8Validator: task.utf8Validator,
        onError: (error) => onError(error, id),
      });
      connections.set(id, { conn, transport });
      conn.start(bytes!);
      return;
    }
    const bound = connections.get(id);
    if (bound === undefined) return; // already finished
    const { conn, transport } = bound;
    switch (op) {
      case ToWorker.DATA:
        // Backpressure: a paused connection's bytes wait here instead of being dispatched.
        if (transport.paused) transport.held.push(bytes!);
        else conn.receive(bytes!);
        break;
      case ToWorker.PAUSE:
        transport.paused = true;
        transport.socketBuffered = argument;
        break;
      case ToWorker.DRAIN: {
        transport.paused = false;
        transport.socketBuffered = 0;
        const held = transport.held;
        transport.held = [];
        for (const chunk of held) conn.receive(chunk);
        conn.drain();
        break;
      }
      case ToWorker.CLOSE:
        conn.close(argument, text);
        break;
      case ToWorker.FINISH:
        connections.delete(id);
        conn.finish();
        break;
    }
  };

  await new Promise<void>((resolve) => {
    task.port.on('message', (batch: Batch) => {
      readToWorker(batch, handle);
      // Answer within the same turn: the replies to this batch leave as one batch.
      channel.flush();
    });
    // The main thread closes the port at shutdown; the task ends and Piscina may stop the thread.
    task.port.once('close', () => {
      for (const { conn } of connections.values()) conn.finish();
      connections.clear();
      resolve();
    });
  });
}
