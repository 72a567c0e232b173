import { formString, phoneIdFromSmsSenderCode } from "../domain/bitrix-connector.ts";
import type { SmsJob } from "../domain/outbound-job.ts";
import { UnauthorizedError, ValidationError } from "../errors.ts";
import type { Logger } from "../logger.ts";
import type { BitrixStore } from "../ports/bitrix-store.ts";
import { sameSecret } from "./install-portal.ts";

export interface SmsRequest {
  readonly form: Record<string, unknown>;
  /** The per-portal secret from the handler URL we registered with the sender. */
  readonly handlerSecret?: string;
}

/**
 * 1. The sender code names our phone (Bitrix24 sends no sender number); the phone names the portal.
 * 2. The handler URL's secret must be the portal's; the application token too when the call carries one
 *    (a message with no author comes without `auth`).
 * 3. Queue the message; Bitrix24 marks it `sent` itself and hears the rest through status updates.
 */
export function makeAcceptSms({
  store,
  queue,
  logger,
}: {
  store: BitrixStore;
  queue: { enqueue(jobs: readonly SmsJob[]): Promise<void> };
  logger: Logger;
}) {
  return async function acceptSms(req: SmsRequest): Promise<SmsJob> {
    const code = formString(req.form.code);
    const phoneId = phoneIdFromSmsSenderCode(code);
    const phone = phoneId ? await store.getPhone(phoneId) : undefined;
    const portal = phone ? await store.getPortal(phone.memberId) : undefined;
    if (
      !phone ||
      portal?.status !== "installed" ||
      !req.handlerSecret ||
      !sameSecret(req.handlerSecret, portal.handlerSecret)
    ) {
      throw new UnauthorizedError("Unknown sender or handler secret");
    }
    const auth = (req.form.auth ?? {}) as Record<string, unknown>;
    const token = formString(auth.application_token);
    if (token && !sameSecret(token, portal.applicationToken))
      throw new UnauthorizedError("Application token does not match");
    const messageId = formString(req.form.message_id);
    const to = formString(req.form.message_to);
    if (!messageId || !to) throw new ValidationError("SMS request without message_id or message_to");
    const job: SmsJob = {
      v: 1,
      kind: "sms",
      id: `${portal.memberId}:sms:${messageId}`,
      memberId: portal.memberId,
      phoneId: phone.phoneId,
      code,
      messageId,
      to,
      text: formString(req.form.message_body),
    };
    await queue.enqueue([job]);
    logger.info("SMS queued", { memberId: portal.memberId, phoneId: phone.phoneId, messageId });
    return job;
  };
}
