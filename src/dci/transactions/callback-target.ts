import { lookup as dnsLookup } from 'node:dns/promises';
import { isIP, type LookupFunction } from 'node:net';
import { Agent, buildConnector } from 'undici';

/**
 * The SSRF guard of callbacks (DIGEST 1.3): a partner names where we POST its results, so a hostile partner could
 * aim us at our own network. A target must be http(s), carry no credentials, sit on one of the partner's registered
 * origins, and (unless the partner is allowed private networks) name and resolve to public addresses only. The
 * addresses are checked again when connecting, on the addresses actually dialled, so a DNS answer that changes
 * between the check and the connection (rebinding) gains nothing.
 */

export interface CallbackPolicy {
  /** `https://spmis.example.org`, `https://*.example.org` (one label), `http://127.0.0.1:8081`, or `*` (any origin). */
  readonly origins: readonly string[];
  /** May the target be on loopback, private or link-local networks (development partners, tests). */
  readonly allowPrivateNetwork: boolean;
}

export class CallbackTargetRejection extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CallbackTargetRejection';
  }
}

/** IPv4 ranges that are not public unicast (RFC 6890 and friends), as [network, prefix length]. */
const V4_BLOCKED: [string, number][] = [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.88.99.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
];

function v4ToInt(ip: string): number {
  return ip.split('.').reduce((n, part) => n * 256 + Number(part), 0);
}

const V4_RULES = V4_BLOCKED.map(([net, bits]) => ({ net: v4ToInt(net), size: 2 ** (32 - bits) }));

function isPublicV4(ip: string): boolean {
  const n = v4ToInt(ip);
  return !V4_RULES.some((r) => n >= r.net && n < r.net + r.size);
}

/** The eight 16-bit groups of an IPv6 address (a trailing dotted quad allowed). */
function v6Groups(ip: string): number[] | undefined {
  let text = ip.toLowerCase();
  const zone = text.indexOf('%');
  if (zone >= 0) text = text.slice(0, zone);
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted) {
    const n = v4ToInt(dotted[1]);
    text = text.slice(0, -dotted[1].length) + `${(n >>> 16).toString(16)}:${(n & 0xffff).toString(16)}`;
  }
  const [head, tail] = text.split('::');
  const parse = (s: string | undefined) => (s ? s.split(':').map((g) => parseInt(g, 16)) : []);
  const left = parse(head);
  const right = parse(tail);
  const groups = tail === undefined ? left : [...left, ...new Array(8 - left.length - right.length).fill(0), ...right];
  return groups.length === 8 && groups.every((g) => Number.isInteger(g) && g >= 0 && g <= 0xffff) ? groups : undefined;
}

const embeddedV4 = (hi: number, lo: number) => `${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`;

function isPublicV6(ip: string): boolean {
  const g = v6Groups(ip);
  if (!g) return false;
  const zeros = (from: number, to: number) => g.slice(from, to).every((x) => x === 0);
  if (zeros(0, 5) && g[5] === 0xffff) return isPublicV4(embeddedV4(g[6], g[7])); // ::ffff:0:0/96 v4-mapped
  if (g[0] === 0x64 && g[1] === 0xff9b && zeros(2, 6)) return isPublicV4(embeddedV4(g[6], g[7])); // 64:ff9b::/96 NAT64
  // Only 2000::/3 is global unicast. Outside it: ::, ::1, v4-compatible ::/96, 100::/64 discard, fc00::/7, fe80::/10,
  // fec0::/10, ff00::/8 and the rest of the reserved space.
  if ((g[0] & 0xe000) !== 0x2000) return false;
  if (g[0] === 0x2002) return isPublicV4(embeddedV4(g[1], g[2])); // 6to4
  if (g[0] === 0x2001 && g[1] < 0x0200) return false; // 2001::/23 protocol assignments: Teredo, benchmarking, ORCHID
  if (g[0] === 0x2001 && g[1] === 0x0db8) return false; // documentation
  if (g[0] === 0x3fff && g[1] < 0x1000) return false; // 3fff::/20 documentation
  return true;
}

/** Is this IP text (v4, or v6 with or without brackets) a public unicast address? */
export function isPublicAddress(ip: string): boolean {
  const bare = ip.startsWith('[') && ip.endsWith(']') ? ip.slice(1, -1) : ip;
  const version = isIP(bare);
  if (version === 4) return isPublicV4(bare);
  if (version === 6) return isPublicV6(bare);
  return false;
}

const PRIVATE_NAME = /(^|\.)(localhost|local|internal|localdomain|home\.arpa)\.?$/i;

/** A name that cannot be a public host: localhost and friends, or a single label (resolved by hosts files and search domains). */
function isPrivateName(hostname: string): boolean {
  const name = hostname.replace(/\.$/, '');
  return PRIVATE_NAME.test(name) || !name.includes('.');
}

function originMatches(url: URL, pattern: string): boolean {
  if (pattern === '*') return true;
  const wildcard = /^(https?:\/\/)\*\.(.+)$/i.exec(pattern);
  let allowed: URL;
  try {
    allowed = new URL(wildcard ? `${wildcard[1]}wildcard.${wildcard[2]}` : pattern);
  } catch {
    return false;
  }
  if (allowed.protocol !== url.protocol || allowed.port !== url.port) return false;
  if (!wildcard) return allowed.hostname === url.hostname;
  const suffix = allowed.hostname.slice('wildcard'.length);
  const label = url.hostname.slice(0, -suffix.length);
  return url.hostname.endsWith(suffix) && label.length > 0 && !label.includes('.');
}

/** Parses and checks a callback URL before a request is accepted; the normalised URL, or CallbackTargetRejection. */
export function checkCallbackUrl(raw: string, policy: CallbackPolicy): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new CallbackTargetRejection('not an absolute URL');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new CallbackTargetRejection(`scheme ${url.protocol} is not allowed; use https`);
  if (url.username || url.password) throw new CallbackTargetRejection('credentials in the URL are not allowed');
  if (url.hash) throw new CallbackTargetRejection('a fragment is not allowed');
  if (!policy.origins.some((o) => originMatches(url, o))) throw new CallbackTargetRejection(`${url.origin} is not a registered callback origin of this partner`);
  if (!policy.allowPrivateNetwork) {
    const host = url.hostname;
    const literal = isIP(host.replace(/^\[|\]$/g, '')) !== 0;
    if (literal ? !isPublicAddress(host) : isPrivateName(host)) throw new CallbackTargetRejection(`${host} is not a public address`);
  }
  return url;
}

export type Lookup = (hostname: string) => Promise<{ address: string; family: 4 | 6 }[]>;

const systemLookup: Lookup = async (hostname) => (await dnsLookup(hostname, { all: true })) as { address: string; family: 4 | 6 }[];

/** Error code of a connection the guard refused. */
export const FORBIDDEN_TARGET = 'ERR_CALLBACK_TARGET_FORBIDDEN';

const forbidden = (host: string, address: string) =>
  Object.assign(new Error(host === address ? `${host} is not a public address` : `${host} resolves to ${address}, which is not a public address`), {
    code: FORBIDDEN_TARGET,
  });

/**
 * An undici Agent for callbacks. Host names are resolved by our own `lookup`, handed to net/tls.connect: it refuses
 * unless every address is public (or private networks are allowed), and net dials exactly the addresses it returns,
 * so there is no second resolution to rebind. The name stays the TLS name (SNI, certificate check), and the connect
 * timeout covers the resolution. IP literals never reach a lookup, so the connector checks them itself.
 */
export function callbackAgent(opts: { allowPrivateNetwork: boolean; connectTimeoutMs: number; connections?: number; lookup?: Lookup }): Agent {
  const resolve = opts.lookup ?? systemLookup;
  const allowed = (address: string) => opts.allowPrivateNetwork || isPublicAddress(address);
  const lookup: LookupFunction = (hostname, options, callback) => {
    resolve(hostname).then(
      (addresses) => {
        const bad = addresses.find((a) => !allowed(a.address));
        if (bad) return callback(forbidden(hostname, bad.address), '');
        if (addresses.length === 0) return callback(Object.assign(new Error(`${hostname} did not resolve`), { code: 'ENOTFOUND' }), '');
        if (options.all) return callback(null, addresses);
        callback(null, addresses[0].address, addresses[0].family);
      },
      (err: NodeJS.ErrnoException) => callback(err, ''),
    );
  };
  const dial = buildConnector({ timeout: opts.connectTimeoutMs, lookup });
  return new Agent({
    connections: opts.connections ?? 16,
    keepAliveTimeout: 4_000,
    connect: (options, callback) => {
      const host = options.hostname.replace(/^\[|\]$/g, '');
      if (isIP(host) && !allowed(host)) return callback(forbidden(host, host), null);
      dial(options, callback);
    },
  });
}
