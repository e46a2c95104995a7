/**
 * The main thread's door: every TCP connection of the node passes it. It keeps file descriptors
 * for answers (fd-reserve.ts), counts connections against the node's limits (admission.ts),
 * hands an admitted socket to the placement, and answers itself what no thread takes (503 and
 * 429, with /healthz still answered).
 */
import type { Server as NetServer, Socket } from 'node:net';
import { createSecureContext } from 'node:tls';
import { rejectionResponse } from '../handshake/handshake.js';
import { HandshakeError } from '../protocol/errors.js';
import { Admission, type AdmissionLimits } from '../server/admission.js';
import { FdReserve } from '../server/fd-reserve.js';
import { MainThreadAnswers, type MainThreadRefusal } from '../server/http-answers.js';
import type { TlsCertificate } from '../server/certificate.js';
import type { Placement } from '../server/placement.js';
import type { LogSink } from '../logging/logger.js';

export class Acceptor {
  /** Counts every connection of the node, whichever thread serves it. */
  readonly #admission: Admission;
  /** Keeps fds for answers: past the limit less the reserve, new connections get 503. */
  readonly #fds: FdReserve;
  readonly #health: () => Promise<Record<string, unknown>>;
  /** The certificate new connections get now (a refusal on a wss:// port is answered over TLS). */
  readonly #certificate: () => TlsCertificate | undefined;
  /** Answers on this thread the connections no worker takes (made when first needed). */
  #answers: MainThreadAnswers | undefined;
  #nextId = 1;
  /** Connections answered 503 because no worker could take them. */
  #refusedNoWorker = 0;

  constructor(limits: AdmissionLimits, log: LogSink, health: () => Promise<Record<string, unknown>>, certificate: () => TlsCertificate | undefined) {
    this.#admission = new Admission(limits);
    this.#fds = new FdReserve(log);
    this.#health = health;
    this.#certificate = certificate;
  }

  /** A freshly accepted socket: handed to `placement` with a new connection id, or answered here. */
  accept(socket: Socket, placement: Placement): void {
    if (!this.#fds.admit(this.#admission.stats.open)) {
      const refusal = { status: 503, reason: 'the server is out of file descriptors; try again later', healthStatus: 200 };
      if (this.#fds.canAnswer) this.#answerHere(socket, refusal);
      else this.#refuseAtOnce(socket, refusal);
      return;
    }
    const id = this.#nextId++;
    const refusal = this.#admission.admit(id, socket.remoteAddress ?? '');
    if (refusal !== undefined) {
      this.#answerHere(socket, { ...refusal, healthStatus: 200 });
      return;
    }
    if (placement.adopt(socket, id)) return;
    this.#admission.release(id);
    this.#refusedNoWorker++;
    this.#answerHere(socket, { status: 503, reason: 'no worker could take the connection; try again later', healthStatus: 503 });
  }

  /** A socket from another HTTP server (handleUpgrade): its connection id, or why the node refuses it. */
  admitUpgrade(socket: Socket): { id: number } | { status: number; reason: string } {
    const id = this.#nextId++;
    return this.#admission.admit(id, socket.remoteAddress ?? '') ?? { id };
  }

  /** Connection `id` is closed (or was lost with its worker). */
  release(id: number): void {
    this.#admission.release(id);
  }

  /** The listener is up: accept errors (a full fd table) are logged, never fatal. */
  listening(net: NetServer): void {
    net.on('error', (error: NodeJS.ErrnoException) => this.#fds.acceptFailed(error));
    this.#fds.measure(this.#admission.stats.open);
  }

  /** Admission's and the fd reserve's parts of /healthz. */
  health(): { admission: Admission['stats']; fds: FdReserve['stats'] } {
    return { admission: { ...this.#admission.stats }, fds: this.#fds.stats };
  }

  /** What /metrics reads of admission and the fd reserve. */
  metrics(): { admission: Admission['stats']; fds: FdReserve['stats']; refusedNoWorker: number } {
    return { ...this.health(), refusedNoWorker: this.#refusedNoWorker };
  }

  close(): void {
    this.#answers?.close();
  }

  /**
   * A refusal in a burst past what the fd reserve answers the usual way (fd-reserve.ts,
   * canAnswer): the 503 is written as the socket is accepted (a fresh socket's send buffer takes
   * it at once) and the socket closed, so its fd is free before the next accept. Its request is
   * not read: a client that sent it already may see a reset after the 503. Over TLS nothing can
   * be written before a handshake: the connection is closed (counted all the same).
   */
  #refuseAtOnce(socket: Socket, refusal: MainThreadRefusal): void {
    this.#fds.refusedAtOnce();
    socket.on('error', () => { /* a reset from a client that wrote meanwhile */ });
    if (this.#certificate() === undefined) socket.write(rejectionResponse(new HandshakeError(refusal.status, refusal.reason)));
    socket.destroy();
  }

  #answerHere(socket: Socket, refusal: MainThreadRefusal): void {
    this.#fds.answering(socket);
    this.#answers ??= new MainThreadAnswers(this.#health);
    const tls = this.#certificate();
    // Made per refused connection (rare), so a replaced certificate is used at once.
    this.#answers.answer(socket, refusal, tls === undefined ? undefined : createSecureContext(tls));
  }
}
