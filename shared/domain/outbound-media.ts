/**
 * How an operator's file goes to WhatsApp, by Meta's supported media types and sizes (meta-whatsapp.md §3,
 * Meta "Supported media types"): image jpeg/png ≤ 5 MB; video mp4/3gpp ≤ 16 MB; audio aac/amr/mpeg/mp4/
 * ogg(opus) ≤ 16 MB; sticker webp ≤ 100 KB static / 500 KB animated; document anything else ≤ 100 MB.
 *
 * Decisions:
 * - MB/KB are read as 1,000,000/1,000 bytes — the smaller reading, so a file we accept is never refused.
 * - A file too big for its own kind still goes as a document when it fits 100 MB: the customer gets the
 *   file (an 8 MB photo, a long video) rather than a link. Only above 100 MB does it become a link.
 * - The size is unknown sometimes (Bitrix24 does not always say); the type decides, and Meta's 131053
 *   answer remains the safety net.
 * - webp is a sticker only within the static limit (we cannot tell static from animated) and, when the
 *   dimensions are known, only at 512×512 as WhatsApp requires; other webp pictures go as documents,
 *   because WhatsApp images must be jpeg or png.
 */

export type WhatsAppMediaKind = "image" | "video" | "audio" | "document" | "sticker";

export type MediaChoice = { kind: WhatsAppMediaKind } | { kind: "link"; reason: string };

const KB = 1000;
const MB = 1000 * KB;

export const MEDIA_LIMITS = {
  image: 5 * MB,
  video: 16 * MB,
  audio: 16 * MB,
  sticker: 100 * KB,
  document: 100 * MB,
} as const satisfies Record<WhatsAppMediaKind, number>;

const KIND_BY_TYPE: Record<string, WhatsAppMediaKind> = {
  "image/jpeg": "image",
  "image/png": "image",
  "image/webp": "sticker",
  "video/mp4": "video",
  "video/3gpp": "video",
  "audio/aac": "audio",
  "audio/amr": "audio",
  "audio/mpeg": "audio",
  "audio/mp4": "audio",
  "audio/ogg": "audio",
};

/** Spellings seen in the wild (browsers, Bitrix24 uploads) for the types Meta lists. */
const ALIASES: Record<string, string> = {
  "image/jpg": "image/jpeg",
  "image/pjpeg": "image/jpeg",
  "audio/mp3": "audio/mpeg",
  "audio/x-m4a": "audio/mp4",
  "audio/m4a": "audio/mp4",
  "audio/x-aac": "audio/aac",
  "video/3gp": "video/3gpp",
};

export function chooseWhatsAppMedia(
  mimeType: string,
  sizeBytes: number | undefined,
  dimensions?: { width: number; height: number },
): MediaChoice {
  const size =
    sizeBytes !== undefined && Number.isFinite(sizeBytes) && sizeBytes >= 0 ? sizeBytes : undefined;
  const kind = preferredKind(mimeType, dimensions);
  const fits = (k: WhatsAppMediaKind) => size === undefined || size <= MEDIA_LIMITS[k];
  if (fits(kind)) return { kind };
  if (fits("document")) return { kind: "document" };
  const megabytes = ((size as number) / MB).toFixed(1);
  return { kind: "link", reason: `the file is ${megabytes} MB, over WhatsApp's 100 MB limit` };
}

function preferredKind(mimeType: string, dimensions: { width: number; height: number } | undefined) {
  const [essence = "", ...params] = mimeType.toLowerCase().split(";");
  const type = ALIASES[essence.trim()] ?? essence.trim();
  const kind = KIND_BY_TYPE[type] ?? "document";
  // WhatsApp plays only Opus in ogg; a declared other codec (vorbis) would be refused as audio.
  const codecs = params.map((p) => p.trim()).find((p) => p.startsWith("codecs="));
  if (type === "audio/ogg" && codecs && !codecs.includes("opus")) return "document";
  if (kind === "sticker" && dimensions && (dimensions.width !== 512 || dimensions.height !== 512)) {
    return "document";
  }
  return kind;
}
