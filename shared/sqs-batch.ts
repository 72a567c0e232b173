import type { SQSBatchResponse, SQSEvent, SQSRecord } from "aws-lambda";
import type { Logger } from "./logger.ts";

/**
 * Called by a record's processing once its work is queued, in order, behind its predecessor's (e.g. in
 * the same Bitrix24 call): the group's next record may start then instead of after the record is done.
 */
export type HandOff = () => void;

/**
 * Runs a FIFO batch: message groups (conversations) side by side, each group's records in order: a
 * record starts once the one before it is done or has handed its work off (see HandOff). When a record
 * fails, it and the rest of its group are reported failed — records not started are not run — so SQS
 * redelivers the group's remainder in its original order; other groups are unaffected. A later record
 * that already finished is redelivered too; its own idempotence (the delivered marker) makes it a
 * duplicate, and whoever took the hand-off keeps it from overtaking the failed one.
 */
export async function processFifoBatch(
  event: SQSEvent,
  processRecord: (
    record: SQSRecord,
    handOff: HandOff,
    previous: Promise<void> | undefined,
    /**
     * Settles once the group's next record in this batch has handed off or finished, or at once when it
     * has none: work of this record waiting to be sent may wait that long for the next to join it.
     */
    nextQueued: Promise<void>,
  ) => Promise<void>,
  logger: Logger,
  /** True once too little time is left to start another record: it and its group's rest are handed back. */
  outOfTime: () => boolean = () => false,
): Promise<SQSBatchResponse> {
  const groups = new Map<string, SQSRecord[]>();
  for (const record of event.Records) {
    const group = record.attributes.MessageGroupId ?? record.messageId;
    groups.set(group, [...(groups.get(group) ?? []), record]);
  }
  const failed = new Set<string>();
  const fail = (records: SQSRecord[], i: number, error: unknown) => {
    for (const rest of records.slice(i)) failed.add(rest.messageId);
    const record = records[i] as SQSRecord;
    logger.warn("record failed; will be retried", {
      messageId: record.messageId,
      receiveCount: record.attributes.ApproximateReceiveCount,
      error,
    });
  };
  await Promise.all(
    [...groups.values()].map(async (records) => {
      const running: Promise<void>[] = [];
      let previous: Promise<void> | undefined;
      let handedBack: number | undefined;
      let previousMayGo: (() => void) | undefined;
      for (const [i, record] of records.entries()) {
        if (outOfTime()) {
          handedBack = i;
          logger.warn("too little time left; records handed back to the queue", {
            messageId: record.messageId,
            handedBack: records.length - i,
          });
          break;
        }
        let handedOff: () => void = () => undefined;
        const handOff = new Promise<"handed off">((resolve) => {
          handedOff = () => resolve("handed off");
        });
        let mayGo: () => void = () => undefined;
        const nextQueued = new Promise<void>((resolve) => {
          mayGo = resolve;
        });
        const done = processRecord(record, handedOff, previous, nextQueued);
        running.push(done);
        previous = done;
        // The next record starts once this one is done or has queued its work behind its predecessor.
        const outcome = await Promise.race([
          done.then(
            () => "done" as const,
            () => "failed" as const,
          ),
          handOff,
        ]);
        previousMayGo?.();
        previousMayGo = mayGo;
        if (outcome === "failed") break;
      }
      previousMayGo?.();
      const outcomes = await Promise.allSettled(running);
      const first = outcomes.findIndex((o) => o.status === "rejected");
      if (first >= 0) fail(records, first, (outcomes[first] as PromiseRejectedResult).reason);
      else if (handedBack !== undefined)
        for (const rest of records.slice(handedBack)) failed.add(rest.messageId);
    }),
  );
  return {
    batchItemFailures: event.Records.filter((r) => failed.has(r.messageId)).map((r) => ({
      itemIdentifier: r.messageId,
    })),
  };
}
