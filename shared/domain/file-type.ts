/**
 * The MIME type of an operator's file when Bitrix24 does not give one: its `type` is often a category
 * (`image`, `file`), not a MIME type. The name's extension decides before download (it picks the WhatsApp
 * media kind); the first bytes decide what Meta is told at upload when nothing better is known.
 */

const MIME = /^[a-z]+\/[a-z0-9][a-z0-9.+-]*$/i;

/** A real `type/subtype`, or undefined for a category such as `image` or an empty value. */
export function asMimeType(value: string | undefined): string | undefined {
  const essence = value?.split(";")[0]?.trim().toLowerCase();
  return essence && MIME.test(essence) ? (value as string).trim() : undefined;
}

const BY_EXTENSION: Record<string, string> = {
  jpg: "image/jpeg",
  jpeg: "image/jpeg",
  jfif: "image/jpeg",
  png: "image/png",
  gif: "image/gif",
  webp: "image/webp",
  heic: "image/heic",
  mp4: "video/mp4",
  m4v: "video/mp4",
  "3gp": "video/3gpp",
  mov: "video/quicktime",
  mp3: "audio/mpeg",
  m4a: "audio/mp4",
  aac: "audio/aac",
  amr: "audio/amr",
  ogg: "audio/ogg",
  oga: "audio/ogg",
  opus: "audio/ogg",
  pdf: "application/pdf",
  txt: "text/plain",
  csv: "text/csv",
  doc: "application/msword",
  docx: "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
  xls: "application/vnd.ms-excel",
  xlsx: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
  ppt: "application/vnd.ms-powerpoint",
  pptx: "application/vnd.openxmlformats-officedocument.presentationml.presentation",
  zip: "application/zip",
};

export function mimeFromName(name: string): string | undefined {
  const dot = name.lastIndexOf(".");
  return dot > -1 ? BY_EXTENSION[name.slice(dot + 1).toLowerCase()] : undefined;
}

/** Magic numbers of the media types WhatsApp plays, and PDF; anything else is left to the name. */
export function mimeFromBytes(bytes: Uint8Array): string | undefined {
  const at = (offset: number, ...expected: number[]) => expected.every((b, i) => bytes[offset + i] === b);
  const ascii = (offset: number, text: string) => at(offset, ...[...text].map((c) => c.charCodeAt(0)));
  if (at(0, 0xff, 0xd8, 0xff)) return "image/jpeg";
  if (at(0, 0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a)) return "image/png";
  if (ascii(0, "GIF8")) return "image/gif";
  if (ascii(0, "RIFF") && ascii(8, "WEBP")) return "image/webp";
  if (ascii(0, "%PDF-")) return "application/pdf";
  if (ascii(0, "OggS")) return "audio/ogg";
  if (ascii(0, "#!AMR")) return "audio/amr";
  if (ascii(0, "ID3")) return "audio/mpeg";
  if (ascii(4, "ftyp")) {
    const brand = String.fromCharCode(...bytes.subarray(8, 12));
    if (brand.startsWith("3gp")) return "video/3gpp";
    if (brand === "M4A ") return "audio/mp4";
    return "video/mp4";
  }
  return undefined;
}
