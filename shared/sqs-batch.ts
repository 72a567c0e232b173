import type { SQSBatchResponse, SQSEvent, SQSRecord } from "aws-lambda";
import type { Logger } from "./logger.ts";

/**
 * Runs a FIFO batch: message groups (conversations) side by side, each group's records one after another
 * in order. When a record fails, the rest of its group is reported failed without being run, so SQS
 * redelivers the group's remainder in its original order; other groups are unaffected.
 */
export async function processFifoBatch(
  event: SQSEvent,
  processRecord: (record: SQSRecord) => Promise<void>,
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
  await Promise.all(
    [...groups.values()].map(async (records) => {
      for (const [i, record] of records.entries()) {
        if (outOfTime()) {
          for (const rest of records.slice(i)) failed.add(rest.messageId);
          logger.warn("too little time left; records handed back to the queue", {
            messageId: record.messageId,
            handedBack: records.length - i,
          });
          return;
        }
        try {
          await processRecord(record);
        } catch (error) {
          for (const rest of records.slice(i)) failed.add(rest.messageId);
          logger.warn("record failed; will be retried", {
            messageId: record.messageId,
            receiveCount: record.attributes.ApproximateReceiveCount,
            error,
          });
          return;
        }
      }
    }),
  );
  return {
    batchItemFailures: event.Records.filter((r) => failed.has(r.messageId)).map((r) => ({
      itemIdentifier: r.messageId,
    })),
  };
}
