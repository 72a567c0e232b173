import type { InboundEvent } from "../domain/inbound-event.ts";
import type { Logger } from "../logger.ts";
import type { Clock } from "../ports/clock.ts";
import type { InboundEventStore } from "../ports/store.ts";

/**
 * 1. Record the event once, keyed on its WhatsApp id (a conditional write; Meta's redeliveries and SQS's
 *    at-least-once delivery both end here as `duplicate`).
 * 2. Delivery to Bitrix24 builds on this record.
 */
export function makeRecordInboundEvent({
  store,
  clock,
  logger,
}: {
  store: InboundEventStore;
  clock: Clock;
  logger: Logger;
}) {
  return async function recordInboundEvent(event: InboundEvent): Promise<"stored" | "duplicate"> {
    const outcome = await store.recordInboundEvent(event, clock.now());
    logger.info("inbound event", {
      id: event.id,
      kind: event.kind,
      field: event.field,
      phoneNumberId: event.phoneNumberId,
      outcome,
    });
    return outcome;
  };
}
