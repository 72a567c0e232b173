import type { InboundEvent } from "../domain/inbound-event.ts";

export interface InboundQueue {
  /** Resolves only once the queue accepted every event; rejects otherwise (nothing is half-acknowledged). */
  enqueue(events: readonly InboundEvent[]): Promise<void>;
}
