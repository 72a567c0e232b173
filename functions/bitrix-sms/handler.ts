import { makeSqsClient, SqsFifoQueue } from "#shared/adapters/sqs/fifo-queue.ts";
import { parseBitrixForm } from "#shared/domain/bitrix-connector.ts";
import { outboundGroupOf, type SmsJob } from "#shared/domain/outbound-job.ts";
import { errorResponse, type HttpEvent, type HttpResult, json, rawBody } from "#shared/http.ts";
import { makeLogger, withRequestId } from "#shared/logger.ts";
import { getRuntime, lazy } from "#shared/runtime.ts";
import { makeAcceptRobot } from "#shared/use-cases/accept-robot.ts";
import { makeAcceptSms } from "#shared/use-cases/accept-sms.ts";

const logger = makeLogger("bitrix-sms");

const acceptSms = lazy(async () => {
  const { config, bitrixStore } = await getRuntime();
  if (!config.OUTBOUND_QUEUE_URL) throw new Error("OUTBOUND_QUEUE_URL is not set");
  const fifo = new SqsFifoQueue(makeSqsClient(), config.OUTBOUND_QUEUE_URL);
  const queue = {
    enqueue: (jobs: readonly SmsJob[]) =>
      fifo.enqueue(jobs.map((job) => ({ body: job, groupId: outboundGroupOf(job), dedupKey: job.id }))),
  };
  return {
    sms: makeAcceptSms({ store: bitrixStore, queue, logger }),
    robot: makeAcceptRobot({ store: bitrixStore, queue, logger }),
  };
});

/**
 * `POST /api/bitrix/sms/`: Bitrix24's SMS-provider handler (CRM "Send SMS", robots). `POST /api/bitrix/robot/`:
 * our CRM robot "Send WhatsApp template", queued the same way. Both answer at once.
 */
async function handle(event: HttpEvent): Promise<HttpResult> {
  try {
    const accept = await acceptSms();
    if (/^\/api\/bitrix\/robot\/?$/.test(event.rawPath)) {
      const job = await accept.robot({
        form: parseBitrixForm(rawBody(event).toString("utf8")),
        handlerSecret: event.queryStringParameters?.h,
      });
      return json(200, { result: "queued", messageId: job.messageId });
    }
    const job = await accept.sms({
      form: parseBitrixForm(rawBody(event).toString("utf8")),
      handlerSecret: event.queryStringParameters?.h,
    });
    return json(200, { result: "queued", messageId: job.messageId });
  } catch (error) {
    return errorResponse(error, logger);
  }
}

export const handler = withRequestId(handle);
