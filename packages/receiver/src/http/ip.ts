import { sha256 } from '../core/hash.js';
import { isIPv4, isIPv6 } from 'node:net';

export type IpMode = 'truncate' | 'hash' | 'full' | 'none';

/** Hex characters kept of the sha256: 64 bits, plenty to tell clients apart. */
const HASH_CHARS = 16;

/** The 8 groups of an IPv6 address (valid per isIPv6, zone removed), embedded IPv4 included. */
function groups(ip: string): number[] {
  let s = ip;
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(s);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number) as [number, number, number, number];
    s = `${s.slice(0, v4.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = s.split('::') as [string, string | undefined];
  const parse = (part: string | undefined) => (part ? part.split(':').map((g) => parseInt(g, 16)) : []);
  const h = parse(head);
  const t = parse(tail);
  return tail === undefined ? h : [...h, ...Array<number>(8 - h.length - t.length).fill(0), ...t];
}

/** Canonical form: IPv4 as is, IPv4-mapped IPv6 (::ffff:a.b.c.d) as IPv4, else the 8 groups. */
function canonical(raw: string): { v4: number[] } | { v6: number[] } | undefined {
  const ip = raw.trim().replace(/^\[|\]$/g, '').replace(/%.*$/, '');
  if (isIPv4(ip)) return { v4: ip.split('.').map(Number) };
  if (!isIPv6(ip)) return undefined;
  const g = groups(ip);
  if (g.slice(0, 5).every((n) => n === 0) && g[5] === 0xffff) {
    return { v4: [g[6]! >> 8, g[6]! & 255, g[7]! >> 8, g[7]! & 255] };
  }
  return { v6: g };
}

/** Shortest IPv6 text for a /48 prefix: the first three groups then `::`. */
function v6Prefix48(g: number[]): string {
  const head = g.slice(0, 3);
  while (head.length && head[head.length - 1] === 0) head.pop();
  return `${head.map((n) => n.toString(16)).join(':')}::`;
}

/**
 * The client IP as stored (GDPR: an IP is personal data). truncate: IPv4 /24 (a.b.c.0), IPv6 /48;
 * hash: sha256(salt + ip) hex, cut — use a secret salt, an unsalted IPv4 hash is brute-forced in
 * minutes; full: as is; none: not stored. Unparseable input is never stored except by `full`.
 */
export function anonymizeIp(ip: string | undefined, mode: IpMode, salt = ''): string | undefined {
  if (!ip || mode === 'none') return undefined;
  if (mode === 'full') return ip.slice(0, 64);
  const c = canonical(ip);
  if (!c) return undefined;
  const text = 'v4' in c ? c.v4.join('.') : c.v6.map((n) => n.toString(16)).join(':');
  if (mode === 'hash') return sha256(salt + text, 'hex').slice(0, HASH_CHARS);
  if (mode === 'truncate') return 'v4' in c ? `${c.v4.slice(0, 3).join('.')}.0` : v6Prefix48(c.v6);
  return undefined;
}

/**
 * Who counts as one client for the rate limit and the connection and memory caps. IPv4: the
 * address. IPv6: its first `v6Prefix` bits (default 64), because a subscriber is routinely given a
 * whole /64 (RFC 6177) and can rotate through 2^64 addresses in it for free; an IPv4-mapped address
 * is its IPv4. Unparseable input is its own (cut) text.
 */
export function clientKey(ip: string, v6Prefix = 64): string {
  const c = canonical(ip);
  if (!c) return ip.slice(0, 64);
  if ('v4' in c) return c.v4.join('.');
  const bits = Math.max(0, Math.min(128, v6Prefix));
  const kept = c.v6.map((g, i) => {
    const from = i * 16;
    if (from + 16 <= bits) return g;
    if (from >= bits) return 0;
    return g & (0xffff << (16 - (bits - from)));
  });
  return `${kept.map((n) => n.toString(16)).join(':')}/${bits}`;
}
