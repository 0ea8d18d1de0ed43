import { lookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';

/** Resolves a host name to its addresses (injectable: tests never ask a real resolver). */
export type Resolver = (hostname: string) => Promise<{ address: string; family: 4 | 6 }[]>;

export const systemResolver: Resolver = async (hostname) =>
  (await lookup(hostname, { all: true, verbatim: true })).map((a) => ({
    address: a.address,
    family: a.family === 6 ? 6 : 4,
  }));

/**
 * Addresses a delivery may never go to: loopback, private, shared (carrier-grade NAT), link-local
 * (with the cloud metadata address 169.254.169.254), unspecified, multicast and reserved ranges,
 * unique-local IPv6 (with AWS's fd00:ec2::254), and IPv4 inside IPv6 (mapped, NAT64) that would
 * reach one of those.
 */
const forbidden = new BlockList();
for (const [network, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) {
  forbidden.addSubnet(network, prefix, 'ipv4');
}
for (const [network, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
] as const) {
  forbidden.addSubnet(network, prefix, 'ipv6');
}

/** The IPv4 address an IPv6 address carries (mapped `::ffff:a.b.c.d`, or NAT64 `64:ff9b::/96`). */
function embeddedIpv4(address: string): string | undefined {
  const lower = address.toLowerCase();
  const dotted = /^(?:::ffff:|64:ff9b::)(\d+\.\d+\.\d+\.\d+)$/.exec(lower);
  if (dotted) return dotted[1];
  const hex = /^(?:::ffff:|64:ff9b::)([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(lower);
  if (!hex) return undefined;
  const high = parseInt(hex[1]!, 16);
  const low = parseInt(hex[2]!, 16);
  return [high >> 8, high & 255, low >> 8, low & 255].join('.');
}

/** True when a delivery may not go to this address. */
export function isForbiddenAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 4) return forbidden.check(address, 'ipv4');
  if (family === 6) {
    const inner = embeddedIpv4(address);
    if (inner !== undefined) return forbidden.check(inner, 'ipv4');
    return forbidden.check(address, 'ipv6');
  }
  return true;
}

export type UrlCheck =
  | {
      ok: true;
      url: URL;
      /** The URL's host name, an IPv6 address without its brackets. */
      host: string;
      /** The address to connect to, checked. */
      address: string;
    }
  | { ok: false; reason: string };

export interface WebhookUrlGuardOptions {
  /** `http://` and private addresses too (MEMBER_ROLES_WEBHOOK_ALLOW_PRIVATE=1). */
  allowPrivate: boolean;
  resolve?: Resolver;
}

/**
 * The guard against server-side request forgery: a webhook URL must be `https://` and its host
 * must resolve to public addresses only. It answers the address to connect to, so the connection
 * goes exactly where the check looked (a name that resolves elsewhere a moment later, DNS
 * rebinding, changes nothing). It runs when an endpoint is saved and before every delivery.
 */
export class WebhookUrlGuard {
  private readonly resolve: Resolver;

  constructor(private readonly options: WebhookUrlGuardOptions) {
    this.resolve = options.resolve ?? systemResolver;
  }

  async check(raw: string): Promise<UrlCheck> {
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      return { ok: false, reason: 'is not a URL' };
    }
    const allowed = this.options.allowPrivate ? ['https:', 'http:'] : ['https:'];
    if (!allowed.includes(url.protocol)) {
      return { ok: false, reason: 'must be an https:// URL' };
    }
    if (url.username || url.password) {
      return { ok: false, reason: 'must not carry credentials' };
    }
    const host = url.hostname.replace(/^\[|\]$/g, '');
    let addresses: { address: string; family: 4 | 6 }[];
    if (isIP(host)) {
      addresses = [{ address: host, family: isIP(host) === 6 ? 6 : 4 }];
    } else {
      try {
        addresses = await this.resolve(host);
      } catch {
        return { ok: false, reason: `has a host that does not resolve (${host})` };
      }
      if (addresses.length === 0) {
        return { ok: false, reason: `has a host that does not resolve (${host})` };
      }
    }
    if (!this.options.allowPrivate) {
      const bad = addresses.find((a) => isForbiddenAddress(a.address));
      if (bad) {
        return {
          ok: false,
          reason: `resolves to ${bad.address}, a loopback, private, link-local or reserved address`,
        };
      }
    }
    const first = addresses[0]!;
    return { ok: true, url, host, address: first.address };
  }
}
