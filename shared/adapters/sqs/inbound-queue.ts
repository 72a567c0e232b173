import type { InboundEvent } from "../../domain/inbound-event.ts";
import { messageGroupOf } from "../../domain/split-webhook.ts";
import type { InboundQueue } from "../../ports/queue.ts";
import type { SqsFifoQueue } from "./fifo-queue.ts";

/** Webhook events onto the inbound FIFO queue: one group per conversation, deduplicated on the event id. */
export class SqsInboundQueue implements InboundQueue {
  readonly #fifo: SqsFifoQueue;

  constructor(fifo: SqsFifoQueue) {
    this.#fifo = fifo;
  }

  enqueue(events: readonly InboundEvent[]): Promise<void> {
    return this.#fifo.enqueue(
      events.map((event) => ({ body: event, groupId: messageGroupOf(event), dedupKey: event.id })),
    );
  }
}
