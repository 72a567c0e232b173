import { describe, expect, it } from "vitest";
import { asMimeType, mimeFromBytes, mimeFromName } from "#shared/domain/file-type.ts";

const bytes = (...parts: (string | number[])[]) =>
  Buffer.concat(parts.map((p) => (typeof p === "string" ? Buffer.from(p, "latin1") : Buffer.from(p))));

describe("asMimeType", () => {
  it("keeps a real type/subtype (with parameters) and drops a category or nothing", () => {
    expect(asMimeType("image/jpeg")).toBe("image/jpeg");
    expect(asMimeType("audio/ogg; codecs=opus")).toBe("audio/ogg; codecs=opus");
    expect(asMimeType("image")).toBeUndefined();
    expect(asMimeType("file")).toBeUndefined();
    expect(asMimeType("")).toBeUndefined();
    expect(asMimeType(undefined)).toBeUndefined();
  });
});

describe("mimeFromName", () => {
  it.each([
    ["photo.JPG", "image/jpeg"],
    ["scan.png", "image/png"],
    ["voice.opus", "audio/ogg"],
    ["clip.3gp", "video/3gpp"],
    ["offer.pdf", "application/pdf"],
    ["table.xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"],
  ])("%s is %s", (name, mime) => {
    expect(mimeFromName(name)).toBe(mime);
  });

  it("knows nothing of a name without a known extension", () => {
    expect(mimeFromName("screenshot")).toBeUndefined();
    expect(mimeFromName("archive.xyz")).toBeUndefined();
  });
});

describe("mimeFromBytes", () => {
  it.each([
    [bytes([0xff, 0xd8, 0xff, 0xe0]), "image/jpeg"],
    [bytes([0x89], "PNG", [0x0d, 0x0a, 0x1a, 0x0a]), "image/png"],
    [bytes("GIF89a"), "image/gif"],
    [bytes("RIFF", [0, 0, 0, 0], "WEBPVP8 "), "image/webp"],
    [bytes("%PDF-1.7"), "application/pdf"],
    [bytes("OggS", [0]), "audio/ogg"],
    [bytes("#!AMR\n"), "audio/amr"],
    [bytes("ID3", [4, 0]), "audio/mpeg"],
    [bytes([0, 0, 0, 0x18], "ftypmp42"), "video/mp4"],
    [bytes([0, 0, 0, 0x14], "ftyp3gp4"), "video/3gpp"],
    [bytes([0, 0, 0, 0x20], "ftypM4A "), "audio/mp4"],
  ])("recognises %#", (data, mime) => {
    expect(mimeFromBytes(data)).toBe(mime);
  });

  it("leaves other bytes to the name", () => {
    expect(mimeFromBytes(bytes("PK", [3, 4]))).toBeUndefined();
    expect(mimeFromBytes(new Uint8Array())).toBeUndefined();
  });
});
