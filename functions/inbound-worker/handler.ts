import type { SQSBatchResponse, SQSEvent } from "aws-lambda";
import type { InboundEvent } from "#shared/domain/inbound-event.ts";
import { makeLogger } from "#shared/logger.ts";
import { systemClock } from "#shared/ports/clock.ts";
import { getRuntime, lazy } from "#shared/runtime.ts";
import { processFifoBatch } from "#shared/sqs-batch.ts";
import { makeRecordInboundEvent } from "#shared/use-cases/record-inbound-event.ts";

const logger = makeLogger("inbound-worker");

const recordInboundEvent = lazy(async () => {
  const { store } = await getRuntime();
  return makeRecordInboundEvent({ store, clock: systemClock, logger });
});

/** Inbound FIFO queue consumer: one WhatsApp event per record, partial batch failures reported. */
export async function handler(event: SQSEvent): Promise<SQSBatchResponse> {
  const record = await recordInboundEvent();
  return processFifoBatch(
    event,
    (r) => record(JSON.parse(r.body) as InboundEvent).then(() => undefined),
    logger,
  );
}
