import { describe, expect, it } from "vitest";
import { chooseWhatsAppMedia, MEDIA_LIMITS } from "#shared/domain/outbound-media.ts";

const KB = 1000;
const MB = 1000 * KB;

describe("chooseWhatsAppMedia", () => {
  it("uses Meta's limits, read as decimal units", () => {
    expect(MEDIA_LIMITS).toEqual({
      image: 5 * MB,
      video: 16 * MB,
      audio: 16 * MB,
      sticker: 100 * KB,
      document: 100 * MB,
    });
  });

  it.each([
    // images: jpeg/png up to 5 MB; larger ones still reach the customer as documents
    ["image/jpeg", 1 * MB, "image"],
    ["image/png", 5 * MB, "image"],
    ["image/jpg", 1 * MB, "image"],
    ["image/pjpeg", 1 * MB, "image"],
    ["IMAGE/JPEG", 1 * MB, "image"],
    ["image/png; charset=binary", 1 * MB, "image"],
    ["image/jpeg", 5 * MB + 1, "document"],
    ["image/gif", 1 * MB, "document"],
    ["image/heic", 1 * MB, "document"],
    // stickers: webp within the static limit
    ["image/webp", 100 * KB, "sticker"],
    ["image/webp", 100 * KB + 1, "document"],
    // video: mp4/3gpp up to 16 MB
    ["video/mp4", 16 * MB, "video"],
    ["video/3gpp", 1 * MB, "video"],
    ["video/3gp", 1 * MB, "video"],
    ["video/mp4", 16 * MB + 1, "document"],
    ["video/quicktime", 1 * MB, "document"],
    ["video/webm", 1 * MB, "document"],
    // audio: aac/amr/mpeg/mp4/ogg(opus) up to 16 MB
    ["audio/aac", 1 * MB, "audio"],
    ["audio/amr", 1 * MB, "audio"],
    ["audio/mpeg", 16 * MB, "audio"],
    ["audio/mp3", 1 * MB, "audio"],
    ["audio/mp4", 1 * MB, "audio"],
    ["audio/x-m4a", 1 * MB, "audio"],
    ["audio/m4a", 1 * MB, "audio"],
    ["audio/x-aac", 1 * MB, "audio"],
    ["audio/ogg", 1 * MB, "audio"],
    ["audio/ogg; codecs=opus", 1 * MB, "audio"],
    ["audio/ogg; codecs=vorbis", 1 * MB, "document"],
    ["audio/webm", 1 * MB, "document"],
    ["audio/mpeg", 16 * MB + 1, "document"],
    // documents: anything else up to 100 MB
    ["application/pdf", 100 * MB, "document"],
    ["application/zip", 1 * MB, "document"],
    ["text/plain", 1 * KB, "document"],
    ["", 1 * KB, "document"],
  ])("%j of %d bytes → %s", (mimeType, size, kind) => {
    expect(chooseWhatsAppMedia(mimeType, size)).toEqual({ kind });
  });

  it.each([
    ["image/jpeg", "image"],
    ["image/webp", "sticker"],
    ["application/pdf", "document"],
  ])("without a size, %s goes by type alone → %s", (mimeType, kind) => {
    expect(chooseWhatsAppMedia(mimeType, undefined)).toEqual({ kind });
  });

  it.each([Number.NaN, -1, Number.POSITIVE_INFINITY])("treats an unusable size (%s) as unknown", (size) => {
    expect(chooseWhatsAppMedia("image/jpeg", size)).toEqual({ kind: "image" });
  });

  it.each([
    ["512×512 webp is a sticker", { width: 512, height: 512 }, "sticker"],
    ["other webp pictures are documents", { width: 800, height: 600 }, "document"],
    ["512 wide but not square", { width: 512, height: 300 }, "document"],
  ])("%s", (_case, dimensions, kind) => {
    expect(chooseWhatsAppMedia("image/webp", 50 * KB, dimensions)).toEqual({ kind });
  });

  it("ignores dimensions for other types", () => {
    expect(chooseWhatsAppMedia("image/png", 50 * KB, { width: 10, height: 10 })).toEqual({ kind: "image" });
  });

  it.each([
    ["video/mp4", 100 * MB + 1, "the file is 100.0 MB, over WhatsApp's 100 MB limit"],
    ["application/pdf", 250 * MB, "the file is 250.0 MB, over WhatsApp's 100 MB limit"],
    ["image/jpeg", 123_456_789, "the file is 123.5 MB, over WhatsApp's 100 MB limit"],
  ])("sends %s of %d bytes as a link", (mimeType, size, reason) => {
    expect(chooseWhatsAppMedia(mimeType, size)).toEqual({ kind: "link", reason });
  });
});
