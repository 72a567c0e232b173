import { smsSenderCodeFor } from "../domain/bitrix-connector.ts";
import type { MetaTemplate } from "../domain/template-shortcode.ts";
import { BitrixApiError } from "../errors.ts";
import type { Logger } from "../logger.ts";
import type { BitrixGateway } from "../ports/bitrix.ts";
import type { BitrixStore, PortalRecord } from "../ports/bitrix-store.ts";
import type { ConversationStore } from "../ports/conversations.ts";

/** The CRM robot "Send WhatsApp template" (bizproc.robot.add, b24-rest-docs bizproc-robot-add.md). */
export const ROBOT_CODE = "separator_waba_template";

export function robotHandlerUrl(portal: PortalRecord): string {
  return `${portal.handlerBaseUrl}/api/bitrix/robot/?h=${encodeURIComponent(portal.handlerSecret)}`;
}

/** The robot's fields: its list properties carry the portal's SMS-enabled numbers and their templates. */
export function robotFields(
  portal: PortalRecord,
  numbers: readonly { phoneId: string; phone: string }[],
  templates: readonly Pick<MetaTemplate, "name" | "language">[],
) {
  return {
    HANDLER: robotHandlerUrl(portal),
    // The robot waits for our answer (bizproc.event.send): it learns whether the template went.
    USE_SUBSCRIPTION: "Y",
    NAME: { en: "Send WhatsApp template", ru: "Отправить шаблон WhatsApp" },
    DESCRIPTION: { en: "Sends an approved WhatsApp template through the chosen number" },
    PROPERTIES: {
      sender: {
        Name: { en: "Sending number", ru: "Номер отправителя" },
        Type: "select",
        Required: "Y",
        Options: Object.fromEntries(numbers.map((n) => [n.phoneId, n.phone])),
      },
      template: {
        Name: { en: "Template", ru: "Шаблон" },
        Type: "select",
        Required: "Y",
        Options: Object.fromEntries(
          templates.map((t) => [`${t.name}+${t.language}`, `${t.name} (${t.language})`]),
        ),
      },
      variables: {
        Name: { en: "Variables", ru: "Переменные" },
        Description: { en: "As in the chat: v1|v2, name:value, file_link:URL, button_param:X" },
        Type: "string",
        Required: "N",
      },
      phone: {
        Name: { en: "Customer phone", ru: "Телефон клиента" },
        Type: "string",
        Required: "Y",
      },
    },
    RETURN_PROPERTIES: {
      status: { Name: { en: "Status" }, Type: "string" },
      error: { Name: { en: "Error" }, Type: "string" },
    },
  };
}

export interface RobotSyncDeps {
  readonly bitrix: BitrixGateway;
  readonly store: Pick<BitrixStore, "listPhonesOfPortal">;
  /** The WABAs' template lists as last read from Meta (no Meta call here: this runs inside installs). */
  readonly cache: Pick<ConversationStore, "getTemplates">;
  readonly logger: Logger;
}

/**
 * A robot's list options are fixed when it is registered, so the robot is registered again
 * (`bizproc.robot.update`) whenever what the lists show can have changed: at install and app update and
 * after a number is connected or changed. The template list is the approved templates Meta last listed.
 * Returns the problem as text, or null.
 */
export function makeRobotSync({ bitrix, store, cache, logger }: RobotSyncDeps) {
  return async function syncRobot(portal: PortalRecord): Promise<string | null> {
    try {
      const numbers = (await store.listPhonesOfPortal(portal.memberId))
        .filter((p) => p.smsService)
        .sort((a, b) => a.phone.localeCompare(b.phone));
      const templates: MetaTemplate[] = [];
      for (const wabaId of new Set(numbers.map((n) => n.wabaId))) {
        const cached = await cache.getTemplates(wabaId);
        for (const t of cached?.templates ?? []) {
          if (
            t.status.toUpperCase() === "APPROVED" &&
            !templates.some((x) => x.name === t.name && x.language === t.language)
          )
            templates.push(t);
        }
      }
      templates.sort((a, b) => a.name.localeCompare(b.name) || a.language.localeCompare(b.language));
      const fields = robotFields(portal, numbers, templates);
      const codes = await bitrix.call<string[]>(portal.memberId, "bizproc.robot.list");
      if ((codes ?? []).includes(ROBOT_CODE)) {
        await bitrix.call(portal.memberId, "bizproc.robot.update", { CODE: ROBOT_CODE, FIELDS: fields });
      } else {
        try {
          await bitrix.call(portal.memberId, "bizproc.robot.add", { CODE: ROBOT_CODE, ...fields });
        } catch (error) {
          // Another set-up of the portal (the install page beside ONAPPINSTALL) added it since the list.
          if (!(error instanceof BitrixApiError && error.bitrixCode === "ERROR_ACTIVITY_ALREADY_INSTALLED"))
            throw error;
          await bitrix.call(portal.memberId, "bizproc.robot.update", { CODE: ROBOT_CODE, FIELDS: fields });
        }
      }
      return null;
    } catch (error) {
      logger.warn("robot registration failed", {
        memberId: portal.memberId,
        error: (error as Error).message,
      });
      return `robot registration failed: ${(error as Error).message}`;
    }
  };
}

/** The sender code of a number, as the SMS provider registered it. */
export const senderCodeOf = (phone: { phoneId: string; smsSender: { code: string } | null }) =>
  phone.smsSender?.code ?? smsSenderCodeFor(phone.phoneId);
