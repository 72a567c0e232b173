import type { BitrixGateway } from "../ports/bitrix.ts";
import type { PortalRecord } from "../ports/bitrix-store.ts";

/**
 * The template picker's placement: IM_TEXTAREA, the item in the panel over a chat's text field
 * (b24-rest-docs api-reference/widgets/im/textarea.md), limited with `context: "LINES"` to open-line
 * chats — where operators answer WhatsApp customers and where the template goes, next to the text it
 * stands for. The chat sidebar (IM_SIDEBAR) would do too, but it sits away from the text being written.
 */
export const PICKER_PLACEMENT = "IM_TEXTAREA";

export function pickerHandlerUrl(portal: PortalRecord): string {
  return `${portal.handlerBaseUrl}/api/bitrix/app/picker/`;
}

/**
 * The app's pieces of Bitrix24's own interface, registered so the step can be repeated (install, app
 * update): the template picker in open-line chats, bound once per handler URL (`placement.get` first,
 * as Bitrix24 keeps a second binding of the same handler). Returns the problem as text, or null.
 */
export async function registerAppUi(bitrix: BitrixGateway, portal: PortalRecord): Promise<string | null> {
  try {
    const handler = pickerHandlerUrl(portal);
    const bound = await bitrix.call<{ placement: string; handler: string }[]>(
      portal.memberId,
      "placement.get",
    );
    if (!(bound ?? []).some((b) => b.placement === PICKER_PLACEMENT && b.handler === handler)) {
      await bitrix.call(portal.memberId, "placement.bind", {
        PLACEMENT: PICKER_PLACEMENT,
        HANDLER: handler,
        TITLE: "WhatsApp template",
        LANG_ALL: {
          en: { TITLE: "WhatsApp template" },
          ru: { TITLE: "Шаблон WhatsApp" },
        },
        // Font Awesome 4 names only (textarea.md: iconName); the panel item shows for every operator.
        OPTIONS: { iconName: "fa-whatsapp", context: "LINES", role: "USER", color: "GREEN" },
      });
    }
    return null;
  } catch (error) {
    return `template picker placement failed: ${(error as Error).message}`;
  }
}
