import type { InboundEvent } from "../domain/inbound-event.ts";
import type { Logger } from "../logger.ts";
import type { Clock } from "../ports/clock.ts";
import type { InboundEventStore } from "../ports/store.ts";

/**
 * Records an event that has nowhere else to go (an account update, an event for a number not connected
 * here) once, keyed on its WhatsApp id: a conditional write, so Meta's redeliveries and SQS's
 * at-least-once delivery end here as `duplicate`. Delivery to Bitrix24 does not depend on it.
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
