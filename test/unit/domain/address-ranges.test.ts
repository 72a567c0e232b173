import { describe, expect, it } from "vitest";
import { isLoopbackAddress, isNumericFormHost, isPublicAddress } from "#shared/domain/address-ranges.ts";
import { isAllowedOutboundUrl } from "#shared/domain/outbound-url.ts";

describe("isPublicAddress", () => {
  it.each([
    "127.0.0.1",
    "127.255.0.9",
    "10.1.2.3",
    "172.16.0.1",
    "172.31.255.255",
    "192.168.1.1",
    "169.254.169.254",
    "100.64.0.1",
    "100.127.255.255",
    "0.0.0.0",
    "224.0.0.251",
    "239.255.255.250",
    "255.255.255.255",
    "198.18.0.1",
    "::",
    "::1",
    "::ffff:127.0.0.1",
    "::ffff:10.0.0.1",
    "::ffff:8.8.8.8",
    "::ffff:0:7f00:1",
    "::ffff:0:169.254.169.254",
    "fe80::1",
    "fc00::1",
    "fd12:3456::1",
    "ff02::1",
    "64:ff9b::a00:1",
    "2002:7f00:1::",
    "not an address",
  ])("refuses %s", (address) => {
    expect(isPublicAddress(address)).toBe(false);
  });

  it.each(["8.8.8.8", "93.184.216.34", "100.63.255.255", "100.128.0.1", "172.32.0.1", "2a03:2880:f10c::1"])(
    "accepts %s",
    (address) => {
      expect(isPublicAddress(address)).toBe(true);
    },
  );

  it("knows loopback in both families", () => {
    expect(["127.0.0.1", "127.8.9.10", "::1"].every(isLoopbackAddress)).toBe(true);
    expect(["::ffff:127.0.0.1", "10.0.0.1", "localhost"].some(isLoopbackAddress)).toBe(false);
  });
});

describe("isNumericFormHost", () => {
  it.each([
    "https://2130706433/",
    "https://0x7f000001/",
    "https://0x7f.1/",
    "https://0177.0.0.1/",
    "https://127.1/",
    "https://127.0.0.1./",
    "https://user@2130706433/",
    "https:2130706433/",
    "https:\\\\2130706433/",
  ])("spots %s", (raw) => {
    expect(isNumericFormHost(raw, new URL(raw).hostname)).toBe(true);
  });

  it.each(["https://127.0.0.1/", "https://8.8.8.8:443/x", "https://portal.bitrix24.com/rest/"])(
    "leaves the written form %s alone",
    (raw) => {
      expect(isNumericFormHost(raw, new URL(raw).hostname)).toBe(false);
    },
  );
});

describe("isAllowedOutboundUrl (what is written; the fetch checks where it resolves)", () => {
  it.each([
    "https://127.0.0.1/x",
    "https://2130706433/x",
    "https://[::1]/x",
    "https://[::ffff:7f00:1]/x",
    "https://169.254.169.254/latest/meta-data/",
    "https://10.0.0.8/rest/",
    "https://localhost/x",
    "http://portal.example/rest/",
    "https://user:pw@portal.example/rest/",
    "ftp://portal.example/",
  ])("refuses %s outside the local stack", (url) => {
    expect(isAllowedOutboundUrl(url, false)).toBe(false);
  });

  it("allows loopback only when the local stack allows it, and never private or numeric forms", () => {
    expect(isAllowedOutboundUrl("http://127.0.0.1:4002/rest/", true)).toBe(true);
    expect(isAllowedOutboundUrl("https://[::1]:4002/rest/", true)).toBe(true);
    expect(isAllowedOutboundUrl("http://10.0.0.8/rest/", true)).toBe(false);
    expect(isAllowedOutboundUrl("http://2130706433/rest/", true)).toBe(false);
    expect(isAllowedOutboundUrl("https://portal.bitrix24.com/rest/", false)).toBe(true);
  });
});
