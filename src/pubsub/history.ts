/**
 * A node's in-memory history of topics: per topic, its position (the last offset and the epoch)
 * and the last `size` publishes, each stored as the exact bytes its subscribers were sent, so a
 * recovery replays them without encoding anything again.
 *
 * Offsets are 1, 2, 3, … per topic. The epoch names one unbroken run of offsets: a topic whose
 * history is lost (its TTL passed, the memory cap took it, the process restarted) starts again
 * at offset 1 under a new epoch, so a client holding an old position is told it cannot recover
 * instead of being handed different messages under the same offsets.
 *
 * Memory: each kept publish counts as its bytes plus ENTRY_OVERHEAD_BYTES (counted against
 * `maxBytes`); past the cap, the topics published least recently lose their messages first
 * (their position stays, so their offsets go on and their clients learn of the loss).
 */
import { randomBytes } from 'node:crypto';

/** Where a client is in a topic: the last offset it has, under which epoch. */
export interface StreamPosition {
  offset: number;
  epoch: string;
}

export interface HistoryLimits {
  /** Publishes kept per topic; 0: no history. */
  size: number;
  /** A topic's history is dropped this long after its last publish (ms). */
  ttlMs: number;
  /** What all topics' kept publishes may take together (bytes, overhead included). */
  maxBytes: number;
}

/** A kept publish: its offset and the delivery bytes (offset included). */
export interface HistoryEntry {
  offset: number;
  payload: Uint8Array;
}

/** What a subscribe or a history request asks of a topic's history. */
export interface HistoryQuery {
  /** Messages after this position (a recovery, or `history` with `since`). */
  since?: StreamPosition;
  /** The newest `limit` messages (`history` with `limit`); with `since`, at most that many after it. */
  limit?: number;
  /**
   * A subscriber joins: a topic with no history yet gets its epoch now, kept for the client to
   * track. Without it (a `history` request), a topic with none is answered with offset 0 and a
   * new epoch that is not kept, so a client cannot fill memory with empty topics by asking.
   */
  join?: boolean;
}

/** The answer: the topic's position now and, when asked, the messages. */
export interface HistoryReply {
  position: StreamPosition;
  /** With `since`: true when every message after it is in `entries`; false when it cannot be recovered. */
  recovered?: boolean;
  entries: HistoryEntry[];
}

/** A publish that got its place in its topic's history, or could not (then it goes live only). */
export interface Sequenced {
  /** The delivery: the message with its offset added, or as it was when it got none. */
  payload: Uint8Array;
  /** Its offset and the topic's epoch; undefined when no offset could be given (Redis unreachable). */
  position?: StreamPosition;
  /**
   * True: not to be delivered on this node (only acknowledged). With Redis, a node delivers its
   * own publish when it comes back, in its place among the others; one that does not come back
   * had no subscriber here then, and a subscriber that joined meanwhile has it in its replay.
   */
  skipLocal?: boolean;
}

/**
 * The one place that assigns a node's offsets and keeps its history, as a thread's broker sees
 * it: the history in memory inline, the main thread in worker mode, Redis with several nodes.
 * Callbacks run once each, in the order the place answered.
 */
export interface HistorySource {
  /**
   * Gives a history publish (a JSON `{"type":"message",…}`) its offset, keeps it and sends it on
   * to the rest of the node and to other nodes; `done` gets the delivery for this thread.
   */
  sequence(topic: string, message: Uint8Array, done: (sequenced: Sequenced) => void): void;
  /** The topic's position now and the messages the query asks for; undefined: history unreachable. */
  read(topic: string, query: HistoryQuery, done: (reply: HistoryReply | undefined) => void): void;
  /** Subscriptions to exactly `topic` over the node and the other nodes; `local`: this thread's. */
  presence(topic: string, local: number, done: (count: number) => void): void;
}

/** Counted per topic with a log (its position, its ring), messages aside. */
export const TOPIC_OVERHEAD_BYTES = 200;
/** Counted per kept publish besides its bytes: the entry object, its Buffer and its slot (measured on the heap). */
export const ENTRY_OVERHEAD_BYTES = 160;
/** How often expired topics are looked for. */
const SWEEP_INTERVAL_MS = 10_000;

/** A fresh epoch: 8 random bytes, base64url (11 characters). */
export function newEpoch(): string {
  return randomBytes(8).toString('base64url');
}

/** The pub/sub delivery of `data` on `topic`: serialized once, framed once per thread. */
export function messageEnvelope(topic: string, data: unknown): string {
  return `{"type":"message","topic":${JSON.stringify(topic)},"data":${JSON.stringify(data)}}`;
}

const OFFSET_KEY = Buffer.from(',"offset":');

/**
 * A pub/sub JSON delivery `{"type":"message",…}` with `,"offset":N` added before its closing
 * brace: one copy per publish, made where the offset is assigned.
 */
export function withOffset(message: Uint8Array, offset: number): Buffer {
  const digits = String(offset);
  const end = message.length - 1;
  const out = Buffer.allocUnsafe(end + OFFSET_KEY.length + digits.length + 1);
  out.set(message.subarray(0, end), 0);
  OFFSET_KEY.copy(out, end);
  out.write(digits, end + OFFSET_KEY.length, 'latin1');
  out[out.length - 1] = 0x7d; // }
  return out;
}

/** One topic's log: a ring of its last `size` publishes. */
class TopicLog {
  readonly epoch = newEpoch();
  /** The last offset given. */
  offset = 0;
  /** Bytes its kept entries count for. */
  bytes = 0;
  /** When it was last published to (or created), ms. */
  touchedAt: number;
  readonly #ring: (HistoryEntry | undefined)[] = [];
  /** Index in #ring of the oldest kept entry. */
  #head = 0;
  #count = 0;

  constructor(now: number) {
    this.touchedAt = now;
  }

  get count(): number {
    return this.#count;
  }

  /** The oldest kept offset (offset + 1 when none is kept). */
  get oldest(): number {
    return this.offset - this.#count + 1;
  }

  push(entry: HistoryEntry, size: number): number {
    let freed = 0;
    if (this.#count < size) {
      this.#ring[(this.#head + this.#count) % size] = entry;
      this.#count++;
    } else {
      freed = cost(this.#ring[this.#head]!);
      this.#ring[this.#head] = entry;
      this.#head = (this.#head + 1) % size;
    }
    this.bytes += cost(entry) - freed;
    return freed;
  }

  /** Drops every kept entry (the position stays); returns the bytes freed. */
  clear(): number {
    const freed = this.bytes;
    this.#ring.length = 0;
    this.#head = 0;
    this.#count = 0;
    this.bytes = 0;
    return freed;
  }

  /** Kept entries with offset > after, oldest first, at most `limit` (the oldest of them). */
  after(after: number, limit: number, size: number): HistoryEntry[] {
    const out: HistoryEntry[] = [];
    const skip = Math.max(0, after - this.oldest + 1);
    for (let i = skip; i < this.#count && out.length < limit; i++) out.push(this.#ring[(this.#head + i) % size]!);
    return out;
  }
}

function cost(entry: HistoryEntry): number {
  return entry.payload.length + ENTRY_OVERHEAD_BYTES;
}

export class MemoryHistory {
  readonly limits: HistoryLimits;
  /** Topic → its log, least recently published first (a publish moves its topic to the end). */
  readonly #logs = new Map<string, TopicLog>();
  #bytes = 0;
  readonly #sweep: NodeJS.Timeout;

  constructor(limits: HistoryLimits) {
    this.limits = limits;
    this.#sweep = setInterval(() => this.#expire(Date.now()), Math.min(SWEEP_INTERVAL_MS, Math.max(1000, limits.ttlMs)));
    this.#sweep.unref();
  }

  /** Bytes all kept publishes count for. */
  get bytes(): number {
    return this.#bytes;
  }

  get topics(): number {
    return this.#logs.size;
  }

  /** The next offset of `topic` and its epoch; `append` must follow with that offset's bytes. */
  next(topic: string): StreamPosition {
    const log = this.#log(topic, Date.now());
    return { offset: log.offset + 1, epoch: log.epoch };
  }

  /** Keeps the delivery of the offset `next` gave. */
  append(topic: string, payload: Uint8Array): void {
    const now = Date.now();
    const log = this.#log(topic, now);
    log.offset++;
    log.touchedAt = now;
    // Most recently published last: the memory cap takes from the front.
    this.#logs.delete(topic);
    this.#logs.set(topic, log);
    this.#bytes += cost({ offset: 0, payload });
    this.#bytes -= log.push({ offset: log.offset, payload }, this.limits.size);
    if (this.#bytes > this.limits.maxBytes) this.#shed(log);
  }

  read(topic: string, query: HistoryQuery): HistoryReply {
    const now = Date.now();
    const kept = this.#logs.get(topic);
    if (kept !== undefined && now - kept.touchedAt > this.limits.ttlMs) this.#drop(topic, kept);
    const log = query.join === true || this.#logs.has(topic) ? this.#log(topic, now) : new TopicLog(now);
    const position = { offset: log.offset, epoch: log.epoch };
    const { since, limit } = query;
    if (since !== undefined) {
      const recovered = since.epoch === log.epoch && since.offset <= log.offset && since.offset >= log.oldest - 1;
      if (!recovered) return { position, recovered, entries: [] };
      return { position, recovered, entries: log.after(since.offset, limit ?? Infinity, this.limits.size) };
    }
    if (limit === undefined || limit <= 0) return { position, entries: [] };
    return { position, entries: log.after(log.offset - limit, limit, this.limits.size) };
  }

  close(): void {
    clearInterval(this.#sweep);
  }

  /** The topic's log, a fresh one (new epoch) when it has none or its TTL passed. */
  #log(topic: string, now: number): TopicLog {
    let log = this.#logs.get(topic);
    if (log !== undefined && now - log.touchedAt > this.limits.ttlMs) {
      this.#drop(topic, log);
      log = undefined;
    }
    if (log === undefined) {
      log = new TopicLog(now);
      this.#logs.set(topic, log);
      this.#bytes += TOPIC_OVERHEAD_BYTES;
      if (this.#bytes > this.limits.maxBytes) this.#shed(log);
    }
    return log;
  }

  #drop(topic: string, log: TopicLog): void {
    this.#bytes -= log.clear() + TOPIC_OVERHEAD_BYTES;
    this.#logs.delete(topic);
  }

  /**
   * Over the cap: the least recently published topics lose their messages, `keep` last; one with
   * none left is forgotten (its epoch with it).
   */
  #shed(keep: TopicLog): void {
    for (const [topic, log] of this.#logs) {
      if (this.#bytes <= this.limits.maxBytes) return;
      if (log === keep) continue;
      if (log.count > 0) this.#bytes -= log.clear();
      else this.#drop(topic, log);
    }
    // One topic alone over the cap keeps what fits.
    while (this.#bytes > this.limits.maxBytes && keep.count > 1) {
      const entries = keep.after(keep.oldest, Infinity, this.limits.size);
      this.#bytes -= keep.clear();
      for (const entry of entries) this.#bytes += cost(entry) - keep.push(entry, this.limits.size);
    }
  }

  #expire(now: number): void {
    for (const [topic, log] of this.#logs) {
      if (now - log.touchedAt > this.limits.ttlMs) this.#drop(topic, log);
    }
  }
}

/** The history source of a single thread (inline, one node): offsets given on the spot. */
export class LocalHistory implements HistorySource {
  constructor(readonly history: MemoryHistory) {}

  sequence(topic: string, message: Uint8Array, done: (sequenced: Sequenced) => void): void {
    done(sequenceInMemory(this.history, topic, message));
  }

  read(topic: string, query: HistoryQuery, done: (reply: HistoryReply | undefined) => void): void {
    done(this.history.read(topic, query));
  }

  presence(_topic: string, local: number, done: (count: number) => void): void {
    done(local);
  }
}

/** Gives `message` the next offset of `topic` and keeps it. */
export function sequenceInMemory(history: MemoryHistory, topic: string, message: Uint8Array): Sequenced {
  const position = history.next(topic);
  const payload = withOffset(message, position.offset);
  history.append(topic, payload);
  return { payload, position };
}
