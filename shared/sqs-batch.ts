import type { SQSBatchResponse, SQSEvent, SQSRecord } from "aws-lambda";
import type { Logger } from "./logger.ts";

/**
 * Runs a FIFO batch record by record. When a record fails, every later record of the same message group
 * is reported failed too without being run, so SQS redelivers the group's rest in its original order.
 */
export async function processFifoBatch(
  event: SQSEvent,
  processRecord: (record: SQSRecord) => Promise<void>,
  logger: Logger,
): Promise<SQSBatchResponse> {
  const failedGroups = new Set<string>();
  const batchItemFailures: SQSBatchResponse["batchItemFailures"] = [];
  for (const record of event.Records) {
    const group = record.attributes.MessageGroupId ?? record.messageId;
    if (failedGroups.has(group)) {
      batchItemFailures.push({ itemIdentifier: record.messageId });
      continue;
    }
    try {
      await processRecord(record);
    } catch (error) {
      failedGroups.add(group);
      batchItemFailures.push({ itemIdentifier: record.messageId });
      logger.warn("record failed; will be retried", {
        messageId: record.messageId,
        receiveCount: record.attributes.ApproximateReceiveCount,
        error,
      });
    }
  }
  return { batchItemFailures };
}
