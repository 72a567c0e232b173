import { CachedAppDirectory } from "#shared/adapters/app-directory.ts";
import { makeEmfMetrics } from "#shared/adapters/emf-metrics.ts";
import { S3ClaimWriter } from "#shared/adapters/s3/claim-writer.ts";
import { makeSqsClient, SqsFifoQueue } from "#shared/adapters/sqs/fifo-queue.ts";
import { SqsInboundQueue } from "#shared/adapters/sqs/inbound-queue.ts";
import { UnauthorizedError } from "#shared/errors.ts";
import {
  errorResponse,
  type HttpEvent,
  type HttpResult,
  header,
  rawBody,
  requestHost,
  text,
} from "#shared/http.ts";
import { makeLogger, withRequestId } from "#shared/logger.ts";
import { metricNames } from "#shared/ports/metrics.ts";
import { getRuntime, lazy } from "#shared/runtime.ts";
import { makeIngestWebhook, makeVerifySubscription } from "#shared/use-cases/ingest-webhook.ts";

const logger = makeLogger("waba-webhook");
const metrics = makeEmfMetrics("waba-webhook");

const useCases = lazy(async () => {
  const { config, store, bitrixStore, conversations } = await getRuntime();
  const apps = new CachedAppDirectory(store, bitrixStore);
  const sqs = makeSqsClient();
  // Claims are signed with what the SQS client resolved: the function's role, in its region.
  const claims = config.MEDIA_BUCKET
    ? new S3ClaimWriter(config.MEDIA_BUCKET, {
        credentials: () => sqs.config.credentials(),
        region: () => sqs.config.region(),
      })
    : undefined;
  return {
    ingest: makeIngestWebhook({
      apps,
      queue: new SqsInboundQueue(new SqsFifoQueue(sqs, config.INBOUND_QUEUE_URL, claims)),
      metrics,
      unrouted: conversations,
      logger,
    }),
    verify: makeVerifySubscription({ apps }),
  };
});

/** `GET /api/waba/`: Meta's verify handshake. `POST /api/waba/`: signed webhook → inbound queue. */
async function handle(event: HttpEvent): Promise<HttpResult> {
  try {
    const { ingest, verify } = await useCases();
    const query = event.queryStringParameters ?? {};
    if (event.requestContext.http.method === "GET") {
      const challenge = await verify({
        appId: query.app_id,
        mode: query["hub.mode"],
        verifyToken: query["hub.verify_token"],
        challenge: query["hub.challenge"],
      });
      return text(200, challenge);
    }
    const { app, events } = await ingest({
      appId: query.app_id,
      host: requestHost(event),
      body: rawBody(event),
      signature: header(event, "x-hub-signature-256"),
    });
    logger.info("webhook accepted", { appId: app.appId, events: events.length });
    return text(200, "EVENT_RECEIVED");
  } catch (error) {
    // HTTP APIs publish no 401 metric; a burst of these means an app secret changed at Meta only.
    if (error instanceof UnauthorizedError) metrics.count(metricNames.webhookSignatureFailures);
    return errorResponse(error, logger);
  }
}

export const handler = withRequestId(handle);
