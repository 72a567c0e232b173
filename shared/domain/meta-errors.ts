/**
 * What an operator should read when WhatsApp refuses or fails a message: Meta's error codes
 * (WhatsApp Cloud API "Error codes" page, `code` + `error_data.details`) turned into a short title, what
 * to do about it, and whether a worker should simply retry.
 */
export interface MetaErrorExplanation {
  readonly title: string;
  readonly advice: string;
  /** Retrying the same request later can succeed (throttling, outages); otherwise a person must act. */
  readonly transient: boolean;
}

export const META_ERROR_CODES_URL =
  "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes";

interface Known {
  readonly title: string;
  readonly advice: string;
  readonly transient?: true;
}

const REPLACE_TOKEN = "Replace the WABA access token in the admin API (PATCH /api/admin/wabas/{wabaId}).";
const FIX_REQUEST = "The bridge sent a request Meta could not accept; report it with the details below.";
const REGISTER = "Register the number with the Cloud API again (POST /{phone-number-id}/register).";

// Meta asks integrators to key on `code` because titles "will eventually be deprecated", so the titles
// here are our stable copies of the ones on the error-codes page.
const KNOWN: ReadonlyMap<number, Known> = new Map<number, Known>([
  [
    0,
    {
      title: "Unable to authenticate the app user",
      advice: `Meta does not accept the access token (invalid, expired or revoked). ${REPLACE_TOKEN}`,
    },
  ],
  [
    1,
    {
      title: "API unknown",
      advice:
        "Invalid request or a Meta server error; it is retried. If it persists, check Meta's status page.",
      transient: true,
    },
  ],
  [
    2,
    {
      title: "API service",
      advice: "WhatsApp is temporarily down or overloaded; the message is retried.",
      transient: true,
    },
  ],
  [
    3,
    {
      title: "API method",
      advice:
        "The Meta app lacks a capability or permission for this call. Check its permissions in the App Dashboard.",
    },
  ],
  [
    4,
    {
      title: "Too many calls",
      advice: "The Meta app hit its API call rate limit; sending slows down and retries.",
      transient: true,
    },
  ],
  [
    10,
    {
      title: "Permission denied",
      advice:
        "A permission is missing or was removed, or the number is not available to this app. Check the system user's access to the WABA.",
    },
  ],
  [
    33,
    {
      title: "Parameter value is not valid",
      advice: "The business phone number was deleted or is wrong. Check the phone id in the admin API.",
    },
  ],
  [
    100,
    {
      title: "Invalid parameter",
      advice:
        "A parameter is unsupported, misspelled or too long (text over 4096 or a caption over 1024 characters). Shorten the message or check the details.",
    },
  ],
  [
    190,
    {
      // Meta's page titles 190 "expired", but 190 is every token it refuses (mistyped, revoked, expired):
      // its own message says "Invalid OAuth access token".
      title: "Invalid access token",
      advice: `Meta refused the WABA's access token: mistyped, revoked or expired (temporary tokens last 24 hours; use a permanent system-user token). ${REPLACE_TOKEN}`,
    },
  ],
  [
    368,
    {
      title: "Temporarily blocked for policies violations",
      advice:
        "The WhatsApp Business Account is restricted for a policy violation. Review it in Meta Business Suite > Account quality.",
    },
  ],
  [
    80007,
    {
      title: "Rate limit issues",
      advice: "The WhatsApp Business Account hit its rate limit; retried later.",
      transient: true,
    },
  ],
  [
    130429,
    {
      title: "Rate limit hit",
      advice: "The number's message throughput was reached; the message is retried.",
      transient: true,
    },
  ],
  [
    130472,
    {
      title: "User's number is part of an experiment",
      advice: "Meta held back this marketing message as part of an experiment; nothing to fix.",
    },
  ],
  [
    130497,
    {
      title: "Business account is restricted from messaging users in this country",
      advice: "This WABA may not message customers in the recipient's country.",
    },
  ],
  [
    131000,
    {
      title: "Something went wrong",
      advice: "Unknown WhatsApp error; it is retried. If it keeps failing, contact Meta Direct Support.",
      transient: true,
    },
  ],
  [
    131005,
    {
      title: "Access denied",
      advice: "A permission was not granted or was removed. Check the system user's permissions on the WABA.",
    },
  ],
  [131008, { title: "Required parameter is missing", advice: FIX_REQUEST }],
  [131009, { title: "Parameter value is not valid", advice: FIX_REQUEST }],
  [
    131016,
    {
      title: "Service unavailable",
      advice: "WhatsApp is temporarily unavailable; the message is retried.",
      transient: true,
    },
  ],
  [
    131021,
    {
      title: "Recipient cannot be sender",
      advice: "The message was addressed to the business number itself.",
    },
  ],
  [
    131026,
    {
      title: "Message undeliverable",
      advice:
        "The customer's number is not on WhatsApp, has not accepted WhatsApp's latest terms, or runs an old WhatsApp version. Ask them to update WhatsApp, or reach them another way.",
    },
  ],
  [
    131031,
    {
      title: "Business account locked",
      advice:
        "The WhatsApp Business Account is locked (policy violation or failed verification). Check it in Meta Business Suite.",
    },
  ],
  [
    131037,
    {
      title: "Display name approval needed",
      advice: "The number's display name must be approved by Meta before messages can be sent.",
    },
  ],
  [
    131042,
    {
      title: "Business eligibility payment issue",
      advice:
        "The WABA's payment method has a problem (missing, expired or over its limit). Fix billing in WhatsApp Manager.",
    },
  ],
  [
    131045,
    {
      title: "Incorrect certificate",
      advice: `The phone number registration is broken. ${REGISTER}`,
    },
  ],
  [
    131047,
    {
      title: "Re-engagement message",
      advice:
        "The customer has not written for more than 24 hours, so the 24-hour window is closed. Send a template: template-NAME+LANG (for example template-hello_world+en_US).",
    },
  ],
  [
    131048,
    {
      title: "Spam rate limit hit",
      advice:
        "Too many messages from this number were blocked or reported as spam, so sending is limited. Check the number's quality in WhatsApp Manager.",
    },
  ],
  [
    131049,
    {
      title: "Meta chose not to deliver",
      advice:
        "Meta held back this marketing message to keep engagement healthy (per-customer limit). Do not resend it right away; wait at least 24 hours.",
    },
  ],
  [
    131050,
    {
      title: "Unable to deliver the message",
      advice:
        "The customer stopped marketing messages from this business. Do not resend marketing templates.",
    },
  ],
  [
    131051,
    {
      title: "Unsupported message type",
      advice: "WhatsApp does not support this message type. Send text, a photo or a file instead.",
    },
  ],
  [
    131052,
    {
      title: "Media download error",
      advice:
        "The customer's file could not be downloaded from WhatsApp (files over 100 MB are refused). Ask the customer to send it again.",
    },
  ],
  [
    131053,
    {
      title: "Media upload error",
      advice:
        "WhatsApp refused the file: unsupported or mismatched type, or too large. Send JPEG/PNG images, MP4 video, MP3/OGG audio or PDF/Office documents.",
    },
  ],
  [
    131056,
    {
      title: "Pair rate limit hit",
      advice: "Too many messages to this customer in a short time; the message is retried after a pause.",
      transient: true,
    },
  ],
  [
    131057,
    {
      title: "Account in maintenance mode",
      advice:
        "The business account is in maintenance (for example a throughput upgrade); retried in a few minutes.",
      transient: true,
    },
  ],
  [
    131060,
    {
      title: "Message currently unavailable",
      advice: "WhatsApp could not make this message's content available. Ask the customer what they sent.",
    },
  ],
  [
    131062,
    {
      title: "Business-scoped user ID recipients not supported",
      advice:
        "This kind of message can only be sent to a phone number, and the customer's number is not known.",
    },
  ],
  [
    132000,
    {
      title: "Template parameter count mismatch",
      advice:
        "The number of variables does not match the template. Use template-NAME+LANG+value1|value2|… with every variable.",
    },
  ],
  [
    132001,
    {
      title: "Template does not exist",
      advice:
        "No approved template with this name in this language. Check the name and language against the approved templates.",
    },
  ],
  [
    132005,
    {
      title: "Template hydrated text too long",
      advice: "With the variables filled in the template text is too long. Shorten the variable values.",
    },
  ],
  [
    132007,
    {
      title: "Template format character policy violated",
      advice:
        "A variable value breaks WhatsApp's rules (no newlines, tabs or more than 4 spaces in a row). Fix the values.",
    },
  ],
  [
    132012,
    {
      title: "Template parameter format mismatch",
      advice:
        "A variable has the wrong format (for example text where the header expects an image or a file_link).",
    },
  ],
  [
    132015,
    {
      title: "Template is paused",
      advice: "The template was paused for low quality. Edit it in WhatsApp Manager or use another template.",
    },
  ],
  [
    132016,
    {
      title: "Template is disabled",
      advice: "The template was disabled after repeated low quality. Create a new template.",
    },
  ],
  [
    133004,
    {
      title: "Server temporarily unavailable",
      advice: "WhatsApp is temporarily unavailable; retried later.",
      transient: true,
    },
  ],
  [133010, { title: "Phone number not registered", advice: `The number is not registered. ${REGISTER}` }],
  [
    133016,
    {
      title: "Account register deregister rate limit exceeded",
      advice: "Too many register/deregister attempts (10 per 72 hours); wait before trying again.",
    },
  ],
  [
    135000,
    {
      title: "Generic user error",
      advice:
        "Meta rejected the request without a specific reason, often because of its parameters or media. Contact Meta Direct Support if it persists.",
    },
  ],
]);

const API_PERMISSION: Known = {
  title: "API permission",
  advice: "A permission is missing or was removed. Check the system user's permissions on the WABA.",
};

/** `title` and `details` are what Meta sent (`error.message`'s title, `error_data.details`), if anything. */
export function explainMetaError(code: number, title?: string, details?: string): MetaErrorExplanation {
  const known = KNOWN.get(code) ?? (code >= 200 && code <= 299 ? API_PERMISSION : undefined);
  const said = details?.trim();
  if (known) {
    const extra = said && said !== known.title ? ` (WhatsApp: ${said})` : "";
    return { title: known.title, advice: `${known.advice}${extra}`, transient: known.transient === true };
  }
  const prefix = said ? `${said}. ` : "";
  return {
    title: title?.trim() || "Unknown WhatsApp error",
    advice: `${prefix}See ${META_ERROR_CODES_URL}`,
    transient: false,
  };
}

/** The chat note for a `failed` entry of `statuses[]`: one line per error Meta attached. */
export function failedStatusNote(status: Record<string, unknown>): string {
  const errors = Array.isArray(status.errors)
    ? status.errors.filter((e): e is Record<string, unknown> => typeof e === "object" && e !== null)
    : [];
  if (errors.length === 0) return "Message not delivered: WhatsApp gave no reason.";
  return errors
    .map((error) => {
      const code = codeOf(error.code);
      const data = error.error_data;
      const details =
        typeof data === "object" && data !== null
          ? text((data as Record<string, unknown>).details)
          : undefined;
      const metaTitle = text(error.title) ?? text(error.message);
      if (code === undefined) {
        const reason = [metaTitle, details].filter(Boolean).join(": ");
        return `Message not delivered: ${reason || "WhatsApp gave no reason."}`;
      }
      const { title, advice } = explainMetaError(code, metaTitle, details);
      return `Message not delivered (${code}: ${title}): ${advice}`;
    })
    .join("\n");
}

function codeOf(v: unknown): number | undefined {
  if (typeof v === "number") return Number.isInteger(v) ? v : undefined;
  return typeof v === "string" && /^\d+$/.test(v.trim()) ? Number(v) : undefined;
}

function text(v: unknown): string | undefined {
  return typeof v === "string" && v.trim().length > 0 ? v.trim() : undefined;
}
