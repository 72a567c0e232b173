import { createHash } from "node:crypto";
import { formString } from "../domain/bitrix-connector.ts";
import type { SmsJob } from "../domain/outbound-job.ts";
import { UnauthorizedError, ValidationError } from "../errors.ts";
import type { Logger } from "../logger.ts";
import type { BitrixStore } from "../ports/bitrix-store.ts";
import { sameSecret } from "./install-portal.ts";
import { ROBOT_CODE, senderCodeOf } from "./sync-robot.ts";

export interface RobotRequest {
  /** The robot call as Bitrix24 posts it (b24phpsdk IncomingRobotRequest): code, event_token, properties, auth. */
  readonly form: Record<string, unknown>;
  readonly handlerSecret?: string;
}

/**
 * The CRM robot "Send WhatsApp template" runs:
 * 1. The portal (`auth[member_id]`) must be installed, the handler URL's secret and the application
 *    token its own; the robot is ours.
 * 2. The chosen number must be one of this portal's SMS-enabled numbers.
 * 3. The template and variables become the `template-…` shortcode and go the SMS provider's way: the
 *    same queue, the same checks, the same send; the robot hears the result (bizproc.event.send).
 */
export function makeAcceptRobot({
  store,
  queue,
  logger,
}: {
  store: Pick<BitrixStore, "getPortal" | "getPhone">;
  queue: { enqueue(jobs: readonly SmsJob[]): Promise<void> };
  logger: Logger;
}) {
  return async function acceptRobot(req: RobotRequest): Promise<SmsJob> {
    const auth = (req.form.auth ?? {}) as Record<string, unknown>;
    const portal = await store.getPortal(formString(auth.member_id));
    const token = formString(auth.application_token);
    if (
      portal?.status !== "installed" ||
      !req.handlerSecret ||
      !sameSecret(req.handlerSecret, portal.handlerSecret) ||
      !token ||
      !sameSecret(token, portal.applicationToken)
    ) {
      throw new UnauthorizedError("Unknown portal, handler secret or application token");
    }
    if (formString(req.form.code) !== ROBOT_CODE) throw new ValidationError("Not this app's robot");
    const eventToken = formString(req.form.event_token);
    const properties = (req.form.properties ?? {}) as Record<string, unknown>;
    const phoneId = formString(properties.sender);
    const template = formString(properties.template).trim();
    const variables = formString(properties.variables).trim();
    const to = formString(properties.phone).trim();
    if (!eventToken) throw new ValidationError("Robot call without event_token");
    const phone = phoneId ? await store.getPhone(phoneId) : undefined;
    if (!phone || phone.memberId !== portal.memberId || !phone.smsService) {
      throw new ValidationError(
        `Sending number: ${phoneId || "none"} is not an SMS-enabled number of this portal`,
      );
    }
    if (!/^[^+\s]+\+[^+\s]+$/.test(template)) throw new ValidationError("Template: choose one from the list");
    if (!to) throw new ValidationError("Customer phone: empty");
    const key = createHash("sha256").update(eventToken).digest("hex").slice(0, 32);
    const job: SmsJob = {
      v: 1,
      kind: "sms",
      id: `${portal.memberId}:robot:${key}`,
      memberId: portal.memberId,
      phoneId: phone.phoneId,
      code: senderCodeOf(phone),
      messageId: `robot:${key}`,
      to,
      text: `template-${template}${variables ? `+${variables}` : ""}`,
      robot: { eventToken },
    };
    await queue.enqueue([job]);
    logger.info("robot template queued", { memberId: portal.memberId, phoneId: phone.phoneId });
    return job;
  };
}
