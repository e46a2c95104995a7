/**
 * One ready frame written to many connections' send queues (a broadcast: framed once per
 * thread, the same bytes queued for every subscriber). Its bytes exist once however many
 * queues hold them, so the thread's send budget counts them once: `holders` is how many queued
 * writes of this thread still reference it.
 */
export class SharedFrame {
  /** Queued writes of this thread that still hold the frame (maintained by the send budget). */
  holders = 0;
  /** Its number among the thread's frames held in send queues, while held (-1: none). */
  seq = -1;

  constructor(readonly bytes: Uint8Array) {}
}
