import { timingSafeEqual } from "node:crypto";
import type { InboundEvent } from "../domain/inbound-event.ts";
import { splitWebhookIntoEvents } from "../domain/split-webhook.ts";
import { parseUntrustedJson } from "../domain/untrusted-json.ts";
import { verifyWebhookSignature } from "../domain/webhook-signature.ts";
import { idsNamedBy, keepOwnParts, type RefusedPart } from "../domain/webhook-tenancy.ts";
import { ForbiddenError, PayloadTooLargeError, UnauthorizedError, ValidationError } from "../errors.ts";
import type { Logger } from "../logger.ts";
import type { ConversationStore } from "../ports/conversations.ts";
import { type Metrics, metricNames } from "../ports/metrics.ts";
import type { InboundQueue } from "../ports/queue.ts";
import type { AppRecord } from "../ports/store.ts";
import {
  isMetaWebhookEnvelope,
  type MetaWebhookEnvelope,
  metaWebhookEnvelope,
} from "../schemas/meta-webhook.ts";

/** Finds the apps a webhook may belong to; `fresh` bypasses any cache (after a failed signature check). */
export interface AppDirectory {
  byId(appId: string, fresh: boolean): Promise<AppRecord | undefined>;
  byHost(host: string, fresh: boolean): Promise<AppRecord[]>;
  byVerifyToken(token: string): Promise<AppRecord | undefined>;
  /** The app a WABA is registered under, if any. */
  appOfWaba(wabaId: string): Promise<string | undefined>;
  /** The WABA a phone number is registered under, if any. */
  wabaOfPhone(phoneNumberId: string): Promise<string | undefined>;
}

/** Meta's documented limit for a webhook payload. */
export const MAX_WEBHOOK_BYTES = 3 * 1024 * 1024;

export interface WebhookRequest {
  readonly appId?: string;
  readonly host: string;
  readonly body: Buffer;
  readonly signature?: string;
}

export function makeIngestWebhook({
  apps,
  queue,
  metrics,
  unrouted,
  logger,
}: {
  apps: AppDirectory;
  queue: InboundQueue;
  /** Counts what the webhook refused, so an operator sees a tenant naming ids that are not its own. */
  metrics: Metrics;
  /** Where a number of the app's own WABA that no phone is set up for is counted (GET /api/admin/unrouted). */
  unrouted?: Pick<ConversationStore, "recordUnrouted">;
  logger: Logger;
}) {
  async function candidates(req: WebhookRequest, fresh: boolean): Promise<AppRecord[]> {
    if (req.appId) {
      const app = await apps.byId(req.appId, fresh);
      return app ? [app] : [];
    }
    return apps.byHost(req.host, fresh);
  }

  async function authenticate(req: WebhookRequest): Promise<AppRecord> {
    for (const fresh of [false, true]) {
      const found = (await candidates(req, fresh)).find((app) =>
        verifyWebhookSignature(req.body, req.signature, app.appSecret),
      );
      if (found) return found;
    }
    throw new UnauthorizedError("Unknown app or X-Hub-Signature-256 does not match the app secret");
  }

  /**
   * 0. Over Meta's 3 MB payload limit → 413 before anything else.
   * 1. Resolve the app by `app_id`, else by host (several apps on one host: the one whose secret verifies).
   * 2. Check X-Hub-Signature-256 over the raw bytes before parsing anything → 401, nothing enqueued.
   * 3. Parse the envelope (depth-limited, prototype-free) → 400 when it is not a WhatsApp webhook.
   * 4. Keep only the entries whose WABA is the signing app's and the changes whose number is that
   *    WABA's; the rest are logged at warn and counted, never enqueued.
   * 5. Split into single events and enqueue them all; return only once the queue accepted every one.
   */
  return async function ingestWebhook(
    req: WebhookRequest,
  ): Promise<{ app: AppRecord; events: InboundEvent[] }> {
    if (req.body.length > MAX_WEBHOOK_BYTES) {
      throw new PayloadTooLargeError(`A webhook is at most ${MAX_WEBHOOK_BYTES} bytes`);
    }
    const app = await authenticate(req);
    let body: unknown;
    try {
      body = parseUntrustedJson(req.body.toString("utf8"));
    } catch (error) {
      throw new ValidationError(`Body is not acceptable JSON: ${(error as Error).message}`);
    }
    if (!isMetaWebhookEnvelope(body)) {
      const issues = metaWebhookEnvelope.safeParse(body).error?.issues;
      throw new ValidationError("Body is not a WhatsApp Business Account webhook", issues);
    }
    const own = await ownParts(body, app.appId);
    const events = splitWebhookIntoEvents(own, app.appId);
    await queue.enqueue(events);
    return { app, events };
  };

  async function ownParts(envelope: MetaWebhookEnvelope, appId: string): Promise<MetaWebhookEnvelope> {
    const { wabaIds, phoneNumberIds } = idsNamedBy(envelope);
    const [appOfWaba, wabaOfPhone] = await Promise.all([
      lookUpAll(wabaIds, (id) => apps.appOfWaba(id)),
      lookUpAll(phoneNumberIds, (id) => apps.wabaOfPhone(id)),
    ]);
    const kept = keepOwnParts(envelope, appId, { appOfWaba, wabaOfPhone });
    if (kept.refused.length > 0) await reportRefused(appId, kept.refused);
    return kept.envelope;
  }

  async function reportRefused(appId: string, refused: RefusedPart[]): Promise<void> {
    logger.warn("webhook parts naming another tenant's ids were dropped", { appId, refused });
    metrics.count(metricNames.webhookForeignParts, refused.length);
    // The app's own WABA naming a number nobody set up: Meta sends for it, nobody takes it.
    const at = new Date().toISOString();
    for (const part of refused) {
      if (part.reason !== "unknown-phone" || !part.phoneNumberId) continue;
      await unrouted
        ?.recordUnrouted({
          phoneNumberId: part.phoneNumberId,
          wabaId: part.wabaId,
          eventId: part.field ?? "",
          at,
        })
        .catch((error: unknown) => logger.warn("unrouted webhook not counted", { error }));
    }
  }
}

async function lookUpAll(
  ids: readonly string[],
  find: (id: string) => Promise<string | undefined>,
): Promise<Map<string, string>> {
  const found = new Map<string, string>();
  await Promise.all(
    ids.map(async (id) => {
      const owner = await find(id);
      if (owner !== undefined) found.set(id, owner);
    }),
  );
  return found;
}

export interface HandshakeRequest {
  readonly appId?: string;
  readonly mode?: string;
  readonly verifyToken?: string;
  readonly challenge?: string;
}

/**
 * Meta's GET handshake: answer the challenge when the verify token is the one of the app named by
 * `app_id` or, without it, of any app (the token is unguessable and identifies its app by itself).
 */
export function makeVerifySubscription({ apps }: { apps: AppDirectory }) {
  return async function verifySubscription(req: HandshakeRequest): Promise<string> {
    const token = req.verifyToken ?? "";
    if (req.mode !== "subscribe" || !token || req.challenge === undefined) {
      throw new ForbiddenError("Expected hub.mode=subscribe with hub.verify_token and hub.challenge");
    }
    const app = req.appId ? await apps.byId(req.appId, true) : await apps.byVerifyToken(token);
    if (!app || !sameString(app.verifyToken, token)) throw new ForbiddenError("Verify token does not match");
    return req.challenge;
  };
}

function sameString(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
