// Coercion of attacker-controlled values: every reader returns a well-typed value or undefined,
// never throws, and caps what it keeps.
import * as crypto from 'node:crypto';

/** Length caps (UTF-16 code units). Chromium's samples are 40 chars; URLs rarely pass 2 KiB. */
export const CAP = {
  url: 2048,
  /** violatedDirective may carry the whole source list (CSP1 browsers). */
  directiveList: 1024,
  /** Real policies with many hosts pass 8 KiB; stored once per distinct policy. */
  policy: 16384,
  sample: 256,
  userAgent: 512,
  id: 128,
  short: 128,
  lang: 35,
  tag: 32,
  selector: 256,
  html: 512,
  tagKey: 64,
  tagValue: 256,
  tags: 32,
  /** JSON length of the SDK's free-form page context. */
  context: 4096,
  reportType: 64,
  reportTypes: 20,
} as const;

/** Keys that could reach Object.prototype when copied; rejected by parse, skipped here too. */
export const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

export type Obj = Record<string, unknown>;

export function isObject(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Own property only: `o.constructor` would otherwise read Object.prototype's. */
export function own(o: Obj, key: string): unknown {
  return Object.hasOwn(o, key) ? o[key] : undefined;
}

/** The first of `keys` that `o` has as an own property (browsers disagree on names). */
export function pick(o: Obj, keys: readonly string[]): unknown {
  for (const k of keys) if (Object.hasOwn(o, k) && o[k] !== undefined && o[k] !== null) return o[k];
  return undefined;
}

/**
 * A string cut to `max`, NUL removed (it breaks C-based tooling downstream; other control
 * characters stay: escaping is the dashboard's job). Empty or not a string ⇒ undefined.
 */
export function str(v: unknown, max: number): string | undefined {
  if (typeof v !== 'string') return undefined;
  let s = v.length > max * 4 ? v.slice(0, max * 4) : v;
  if (s.includes('\0')) s = s.replace(/\0/g, '');
  if (s.length > max) {
    s = s.slice(0, max);
    // Never leave half a surrogate pair at the cut.
    const last = s.charCodeAt(max - 1);
    if (last >= 0xd800 && last <= 0xdbff) s = s.slice(0, -1);
  }
  return s === '' ? undefined : s;
}

/** A URL with its fragment dropped (reports never carry one; the merge compares without it). */
export function urlNoFragment(v: unknown): string | undefined {
  const s = str(v, CAP.url * 2);
  if (s === undefined) return undefined;
  const hash = s.indexOf('#');
  return str(hash === -1 ? s : s.slice(0, hash), CAP.url);
}

/**
 * An integer in [min, max]: a number that is one, or a string that is a clean decimal integer
 * (`"200"`, not `"2e2"`, `"0x10"` or `"12px"`). Anything else ⇒ undefined.
 */
export function int(v: unknown, min: number, max: number): number | undefined {
  let n: number;
  if (typeof v === 'number') n = v;
  else if (typeof v === 'string' && /^\s*-?\d{1,15}\s*$/.test(v)) n = Number(v);
  else return undefined;
  return Number.isSafeInteger(n) && n >= min && n <= max ? n : undefined;
}

/** A finite number (or clean integer string), clamped to [min, max]. */
export function clampNum(v: unknown, min: number, max: number): number | undefined {
  const n = typeof v === 'number' ? v : int(v, -Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
  if (n === undefined || !Number.isFinite(n)) return undefined;
  return Math.min(max, Math.max(min, n));
}

/** Lower-case scheme of a URL or of a scheme-only value (`data`, `blob`), if it has one. */
export function schemeOf(v: string | undefined): string | undefined {
  const m = v === undefined ? null : /^([a-z][a-z0-9+.-]*)(?::|$)/i.exec(v);
  return m ? m[1]!.toLowerCase() : undefined;
}

/**
 * Adds to a tally keyed by a name from a payload (report type, directive). Own properties only:
 * `tally.constructor` would otherwise start from Object.prototype's function.
 */
export function bump(tally: Record<string, number>, key: string, n = 1): void {
  tally[key] = (Object.hasOwn(tally, key) ? tally[key] : 0) + n;
}

/** The parts of a parsed URL the receiver compares on (as `new URL` gives them). */
export interface UrlParts {
  /** `https:` */
  protocol: string;
  /** Host and non-default port: `a.example:8443`. */
  host: string;
  hostname: string;
  /** `https://a.example:8443`, or `null` for an opaque origin (`data:`, extension schemes, …). */
  origin: string;
}

const DEFAULT_PORT: Record<string, string> = { http: '80', https: '443', ws: '80', wss: '443' };
// Scheme, then lower-case LDH labels (or dotted-decimal IPv4), an optional port, and the end of
// the authority. Everything else (upper case, userinfo, IDN, IPv6, percent-escapes, backslashes,
// whitespace, numeric hosts the IPv4 parser would rewrite) goes to the URL parser.
const PLAIN_URL = /^(https?|wss?):\/\/([a-z0-9_-]+(?:\.[a-z0-9_-]+)*)(?::(\d{1,5}))?(?=[/?#]|$)/;
const NUMERIC_LABEL = /(?:^|\.)(?:\d+|0x[0-9a-f]*)$/;
const IPV4 = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

const OPAQUE_URL = /^([a-zA-Z][a-zA-Z0-9+.-]*):(?![/\\\t\n\r])/;
// Schemes with parsing rules of their own (and blob:, whose origin is its inner URL's).
const SPECIAL_SCHEMES = new Set(['http', 'https', 'ws', 'wss', 'ftp', 'file', 'blob']);

// Parsed URLs the fast path does not cover, bounded: cleared whole when full.
const PARSED_MAX = 4096;
const parsed = new Map<string, UrlParts | null>();

/**
 * `new URL(s)`'s protocol, host, hostname and origin, or undefined where it throws. Ingest asks for
 * the origin of every blocked URL several times (bucket key, group fingerprint, cut detection,
 * classification, noise rules): the common `https://host/path` is read with one regex, and the rest
 * goes to the URL parser once per distinct string.
 */
export function urlParts(s: string): UrlParts | undefined {
  const m = PLAIN_URL.exec(s);
  if (m) {
    const hostname = m[2]!;
    // Punycode labels need validation; a numeric last label is IPv4 the parser may rewrite.
    if (!hostname.includes('xn--') && (!NUMERIC_LABEL.test(hostname) || IPV4.test(hostname))) {
      const scheme = m[1]!;
      // "0080" is port 80; past 65535 the parser throws.
      const port = m[3] === undefined ? undefined : Number(m[3]);
      if (port === undefined || port <= 65535) {
        const host = port === undefined || String(port) === DEFAULT_PORT[scheme] ? hostname : `${hostname}:${port}`;
        const protocol = `${scheme}:`;
        return { protocol, host, hostname, origin: `${protocol}//${host}` };
      }
    }
  }
  // No scheme: not an absolute URL.
  if (!s.includes(':')) return undefined;
  // `data:…`, `javascript:…`: a scheme the parser has no rules for, then no `/`: an opaque path.
  const o = OPAQUE_URL.exec(s);
  if (o && !SPECIAL_SCHEMES.has(o[1]!.toLowerCase())) return { protocol: `${o[1]!.toLowerCase()}:`, host: '', hostname: '', origin: 'null' };
  let p = parsed.get(s);
  if (p === undefined) {
    let u: URL | undefined;
    try {
      u = new URL(s);
    } catch {
      u = undefined;
    }
    p = u ? { protocol: u.protocol, host: u.host, hostname: u.hostname, origin: u.origin } : null;
    if (parsed.size >= PARSED_MAX) parsed.clear();
    parsed.set(s, p);
  }
  return p ?? undefined;
}

// crypto.hash (Node ≥ 20.12) hashes a string in one call, without a Hash object: several times
// cheaper for the short values ingest hashes per report. Older Node: createHash.
const oneShot = (crypto as { hash?: (algorithm: string, data: string, encoding: 'hex' | 'base64url') => string }).hash;

/** sha256 of a string (as UTF-8), hex or base64url. */
export function sha256(text: string, encoding: 'hex' | 'base64url'): string {
  return oneShot ? oneShot('sha256', text, encoding) : crypto.createHash('sha256').update(text).digest(encoding);
}

/**
 * `fn` with its results remembered for up to `max` distinct strings (then forgotten all at once):
 * for hashes of values that repeat across reports (documents, user agents, policies).
 */
export function memoize(fn: (s: string) => string, max: number): (s: string) => string {
  const memo = new Map<string, string>();
  return (s) => {
    let out = memo.get(s);
    if (out === undefined) {
      out = fn(s);
      if (memo.size >= max) memo.clear();
      memo.set(s, out);
    }
    return out;
  };
}
