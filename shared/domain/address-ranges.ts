import { BlockList, isIP, isIPv4 } from "node:net";

/**
 * Addresses a fetch of a URL from outside must never reach: everything that is not the public internet
 * (RFC 6890 special-purpose registries, IANA). The IPv6 forms that embed an IPv4 address (mapped,
 * translated, NAT64, 6to4, Teredo) are refused whole, since they can carry any internal IPv4 address.
 */
const NOT_PUBLIC: readonly [string, number, "ipv4" | "ipv6"][] = [
  ["0.0.0.0", 8, "ipv4"], // "this network", unspecified
  ["10.0.0.0", 8, "ipv4"], // private
  ["100.64.0.0", 10, "ipv4"], // CGNAT shared space
  ["127.0.0.0", 8, "ipv4"], // loopback
  ["169.254.0.0", 16, "ipv4"], // link-local, cloud metadata (169.254.169.254)
  ["172.16.0.0", 12, "ipv4"], // private
  ["192.0.0.0", 24, "ipv4"], // IETF protocol assignments
  ["192.0.2.0", 24, "ipv4"], // documentation
  ["192.88.99.0", 24, "ipv4"], // 6to4 relay anycast
  ["192.168.0.0", 16, "ipv4"], // private
  ["198.18.0.0", 15, "ipv4"], // benchmarking
  ["198.51.100.0", 24, "ipv4"], // documentation
  ["203.0.113.0", 24, "ipv4"], // documentation
  ["224.0.0.0", 4, "ipv4"], // multicast
  ["240.0.0.0", 4, "ipv4"], // reserved, broadcast
  ["::", 128, "ipv6"], // unspecified
  ["::1", 128, "ipv6"], // loopback
  ["::ffff:0:0", 96, "ipv6"], // IPv4-mapped
  ["::ffff:0:0:0", 96, "ipv6"], // IPv4-translated (SIIT, RFC 2765): a translator on the path reaches the IPv4 inside
  ["::", 96, "ipv6"], // IPv4-compatible (deprecated)
  ["64:ff9b::", 96, "ipv6"], // NAT64
  ["64:ff9b:1::", 48, "ipv6"], // local NAT64
  ["100::", 64, "ipv6"], // discard
  ["2001::", 32, "ipv6"], // Teredo
  ["2001:db8::", 32, "ipv6"], // documentation
  ["2002::", 16, "ipv6"], // 6to4
  ["fc00::", 7, "ipv6"], // unique local
  ["fe80::", 10, "ipv6"], // link-local
  ["fec0::", 10, "ipv6"], // site-local (deprecated)
  ["ff00::", 8, "ipv6"], // multicast
];

// One list per family: Node's BlockList also matches IPv4 addresses against IPv4-mapped IPv6 rules,
// so the refused `::ffff:0:0/96` would otherwise cover every IPv4 address.
const notPublic = { ipv4: new BlockList(), ipv6: new BlockList() };
for (const [network, prefix, type] of NOT_PUBLIC) notPublic[type].addSubnet(network, prefix, type);

const loopback = { ipv4: new BlockList(), ipv6: new BlockList() };
loopback.ipv4.addSubnet("127.0.0.0", 8, "ipv4");
loopback.ipv6.addAddress("::1", "ipv6");

function familyOf(address: string): "ipv4" | "ipv6" | undefined {
  const family = isIP(address);
  return family === 4 ? "ipv4" : family === 6 ? "ipv6" : undefined;
}

/** True only for an IP address on the public internet. Anything unparsable is not public. */
export function isPublicAddress(address: string): boolean {
  const family = familyOf(address);
  return family !== undefined && !notPublic[family].check(address, family);
}

export function isLoopbackAddress(address: string): boolean {
  const family = familyOf(address);
  return family !== undefined && loopback[family].check(address, family);
}

/**
 * The host exactly as written in a URL, before WHATWG parsing turns `2130706433`, `0x7f.1` or
 * `127.1` into `127.0.0.1`. A numeric host written in any but the dotted-decimal form is refused:
 * nobody links to a file that way except to slip past a check.
 */
export function isNumericFormHost(rawUrl: string, parsedHostname: string): boolean {
  if (!isIPv4(parsedHostname)) return false;
  const written = /^[a-z][a-z\d+.-]*:\/\/(?:[^@/?#\\]*@)?([^:/?#\\]*)/i.exec(rawUrl)?.[1];
  // A URL whose host cannot be read as written (`https:2130706433`, backslashes) counts as numeric form.
  return written?.toLowerCase() !== parsedHostname;
}
