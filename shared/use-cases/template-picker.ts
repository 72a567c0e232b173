import { type AppSession, issueAppSession, readAppSession } from "../domain/app-session.ts";
import { CONNECTOR_ID } from "../domain/bitrix-connector.ts";
import { recipientOf } from "../domain/outbound-job.ts";
import { isServiceWindowOpen } from "../domain/service-window.ts";
import {
  fillShortcode,
  type MetaTemplate,
  normalizeLanguage,
  type TemplateInputs,
  templateInputs,
} from "../domain/template-shortcode.ts";
import {
  BitrixApiError,
  ForbiddenError,
  NotFoundError,
  UnauthorizedError,
  ValidationError,
} from "../errors.ts";
import type { BitrixUserRest } from "../ports/bitrix.ts";
import type { BitrixStore, PhoneRecord, PortalRecord } from "../ports/bitrix-store.ts";
import type { Clock } from "../ports/clock.ts";
import type { ConversationStore } from "../ports/conversations.ts";
import { makeFrameAuth } from "./frame-auth.ts";
import type { makeInstallPortal } from "./install-portal.ts";
import type { TemplateCatalog } from "./template-catalog.ts";

export interface TemplatePickerDeps {
  readonly bitrixStore: Pick<BitrixStore, "getPortal" | "findPhoneByLine">;
  readonly conversations: Pick<ConversationStore, "getConversation">;
  readonly templates: TemplateCatalog;
  readonly installer: Pick<ReturnType<typeof makeInstallPortal>, "verify">;
  readonly userRest: BitrixUserRest;
  readonly sessionKey: Buffer;
  readonly clock: Clock;
}

/** One approved template as the picker shows it, with the fields the operator fills. */
export interface PickerTemplate {
  readonly name: string;
  readonly language: string;
  readonly category: string | null;
  readonly body: string;
  readonly inputs: TemplateInputs;
}

/** The chat the picker was opened from, when it is one of our WhatsApp conversations. */
export interface PickerChat {
  readonly dialogId: string;
  readonly phone: PhoneRecord;
  readonly windowOpen: boolean;
  readonly templates: readonly PickerTemplate[];
}

export type PickerView =
  | { kind: "chat"; session: string; chat: PickerChat }
  | { kind: "not-whatsapp"; session: string; dialogId: string };

/** Bitrix24's `entity_id` of an open-line chat: `<connector>|<LINE_ID>|<CONNECTOR_CHAT_ID>|<USER_ID>`. */
function parseEntityId(entityId: string) {
  const [connector, line, chatId] = entityId.split("|");
  return { connector: connector ?? "", line: Number(line), chatId: chatId ?? "" };
}

const refused = (error: unknown) =>
  error instanceof BitrixApiError && (error.httpStatus === 401 || error.httpStatus === 403);

/**
 * The template picker in the open-line chat (placement IM_TEXTAREA, context LINES): the approved
 * templates of the chat's number, and sending one as the operator — the same `template-…` text an
 * operator could type, posted into the chat, so the chat's own shortcode path checks and sends it.
 */
export function makeTemplatePicker({
  bitrixStore,
  conversations,
  templates,
  installer,
  userRest,
  sessionKey,
  clock,
}: TemplatePickerDeps) {
  const nowSeconds = () => Math.floor(clock.now().getTime() / 1000);

  const { installedPortal, verifyFrame } = makeFrameAuth({ bitrixStore, installer });

  /**
   * The chat as the operator's own token sees it (`imopenlines.dialog.get`): a chat they cannot reach
   * is refused by Bitrix24, so the picker never shows or sends into another operator's conversation.
   */
  async function chatOf(portal: PortalRecord, accessToken: string, dialogId: string) {
    let dialog: { entity_type?: unknown; entity_id?: unknown };
    try {
      dialog = (await userRest.call(portal.clientEndpoint, accessToken, "imopenlines.dialog.get", {
        DIALOG_ID: dialogId,
      })) as typeof dialog;
    } catch (error) {
      if (refused(error)) throw new UnauthorizedError("Bitrix24 does not accept this token");
      if (error instanceof BitrixApiError && error.bitrixCode === "ACCESS_ERROR") {
        throw new ForbiddenError("This chat is not open to you in Bitrix24");
      }
      throw error;
    }
    if (dialog.entity_type !== "LINES" || typeof dialog.entity_id !== "string") return undefined;
    const entity = parseEntityId(dialog.entity_id);
    if (entity.connector !== CONNECTOR_ID || !Number.isFinite(entity.line)) return undefined;
    const phone = await bitrixStore.findPhoneByLine(portal.memberId, entity.line);
    const recipient = recipientOf(entity.chatId);
    if (!phone || !recipient) return undefined;
    return { phone, customerId: "to" in recipient ? recipient.to : recipient.recipient };
  }

  async function approved(wabaId: string): Promise<MetaTemplate[]> {
    return (await templates.templates(wabaId))
      .filter((t) => t.status.toUpperCase() === "APPROVED")
      .sort((a, b) => a.name.localeCompare(b.name) || a.language.localeCompare(b.language));
  }

  return {
    /**
     * The frame Bitrix24 posts when an operator opens the picker from a chat's text area:
     * 1. the token is checked at the OAuth server (which app, which portal); refused → 401;
     * 2. the chat (`PLACEMENT_OPTIONS.dialogId`) is read with the operator's token; it must be an open
     *    line of our connector whose line carries one of this portal's numbers;
     * 3. the number's approved templates, and whether the customer's 24-hour window is open.
     */
    async open(frame: { memberId: string; accessToken: string; dialogId: string }): Promise<PickerView> {
      const portal = await verifyFrame(frame);
      const session = issueAppSession(sessionKey, "picker", portal.memberId, nowSeconds());
      if (!/^chat\d+$/.test(frame.dialogId))
        return { kind: "not-whatsapp", session, dialogId: frame.dialogId };
      const chat = await chatOf(portal, frame.accessToken, frame.dialogId);
      if (!chat) return { kind: "not-whatsapp", session, dialogId: frame.dialogId };
      const conversation = await conversations.getConversation(chat.phone.phoneId, chat.customerId);
      const last = conversation?.lastInboundAt ? new Date(conversation.lastInboundAt) : undefined;
      return {
        kind: "chat",
        session,
        chat: {
          dialogId: frame.dialogId,
          phone: chat.phone,
          windowOpen: isServiceWindowOpen(last, clock.now()),
          templates: (await approved(chat.phone.wabaId)).map((t) => ({
            name: t.name,
            language: t.language,
            category: t.category ?? null,
            body: t.components?.find((c) => c.type.toUpperCase() === "BODY")?.text ?? "",
            inputs: templateInputs(t),
          })),
        },
      };
    },

    authorize(token: string): AppSession {
      const session = readAppSession(sessionKey, "picker", token, nowSeconds());
      if (!session) throw new UnauthorizedError("The picker's session expired: open it again from the chat");
      return session;
    },

    /**
     * Posts the filled shortcode into the chat as the operator (`im.message.add` with their token): Bitrix24
     * then hands it to our connector like any operator message, and the chat's checks decide what goes.
     */
    async send(
      session: AppSession,
      request: {
        accessToken: string;
        dialogId: string;
        name: string;
        language: string;
        variables: Record<string, string>;
        fileLink?: string;
        buttonParam?: string;
      },
    ): Promise<{ shortcode: string }> {
      const portal = await installedPortal(session.memberId);
      const chat = await chatOf(portal, request.accessToken, request.dialogId);
      if (!chat) throw new NotFoundError("This chat is not a WhatsApp conversation of this portal");
      const language = normalizeLanguage(request.language);
      const template = (await approved(chat.phone.wabaId)).find(
        (t) => t.name === request.name && t.language === language,
      );
      if (!template) {
        throw new ValidationError(`Template: ${request.name} (${language}) is not approved for this number`);
      }
      const shortcode = fillShortcode(template, request);
      try {
        await userRest.call(portal.clientEndpoint, request.accessToken, "im.message.add", {
          DIALOG_ID: request.dialogId,
          MESSAGE: shortcode,
        });
      } catch (error) {
        if (refused(error)) throw new UnauthorizedError("Bitrix24 does not accept this token");
        throw error;
      }
      return { shortcode };
    },
  };
}
