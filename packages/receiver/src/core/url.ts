// Reading the origin of a URL fast: ingest needs it several times per report, and `new URL` was
// the largest CPU cost of the ingest path (BENCHMARKS.md). Checked against `new URL` by
// test/receiver/url-fast-path.test.ts.
import { memoize } from './hash.js';

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

// The URLs the fast path does not cover, each parsed once (bounded memo).
const parseSlow = memoize((s): UrlParts | undefined => {
  try {
    const u = new URL(s);
    return { protocol: u.protocol, host: u.host, hostname: u.hostname, origin: u.origin };
  } catch {
    return undefined;
  }
}, 4096);

/**
 * `new URL(s)`'s protocol, host, hostname and origin, or undefined where it throws. Ingest asks for
 * the origin of every blocked URL several times (bucket key, group fingerprint, cut detection,
 * classification, noise rules): the common `https://host/path` is read with one regex, and the rest
 * goes to the URL parser once per distinct string.
 */
export function urlParts(s: string): Readonly<UrlParts> | undefined {
  // The same strings come back at once, from stage after stage (noise rules on the blocked URL and
  // the source file in turn, classification, bucket key, fingerprint, cut detection): the last two
  // answers are kept, so each is read once per report and allocates nothing more.
  if (s === recent[0]) return recent[1];
  if (s === recent[2]) return recent[3];
  const parts = readParts(s);
  recent[2] = recent[0];
  recent[3] = recent[1];
  recent[0] = s;
  recent[1] = parts;
  return parts;
}

const recent: [string | undefined, UrlParts | undefined, string | undefined, UrlParts | undefined] = [undefined, undefined, undefined, undefined];

function readParts(s: string): UrlParts | undefined {
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
  return parseSlow(s);
}

/** The blocked URL reduced to what survives Chromium's and Safari's cutting: origin or keyword. */
export function blockedOrigin(blocked: string | undefined): string {
  if (!blocked) return '';
  const origin = tupleOrigin(blocked);
  if (origin !== undefined) return origin;
  const colon = blocked.indexOf(':');
  return colon === -1 ? blocked : blocked.slice(0, colon);
}

/** A URL the browser cut to its origin (`https://a.example`, no path, query or fragment). */
export function isCutToOrigin(blocked: string): boolean {
  const origin = tupleOrigin(blocked);
  return origin !== undefined && (blocked.endsWith('/') ? blocked.slice(0, -1) : blocked) === origin;
}

const SCHEME = /^([a-zA-Z][a-zA-Z0-9+.-]*):/;
/** Schemes whose URLs have a tuple origin (`blob:` through the URL inside it); the rest, `null`. */
const TUPLE_SCHEMES = new Set(['http', 'https', 'ws', 'wss', 'ftp', 'blob', 'file']);

/** `new URL(s).origin` when the URL parses and its origin is not opaque (`null`), else undefined. */
function tupleOrigin(s: string): string | undefined {
  // data:, inline, eval, extension schemes: opaque or no URL at all, without parsing.
  const m = SCHEME.exec(s);
  if (m ? !TUPLE_SCHEMES.has(m[1]!.toLowerCase()) : !s.includes(':')) return undefined;
  const u = urlParts(s);
  return u && u.origin !== 'null' ? u.origin : undefined;
}

/** Blocked URLs describe the same thing when equal, or same origin when one side was cut. */
export function blockedCompatible(a: string | undefined, b: string | undefined): boolean {
  if (a === b) return true;
  if (!a || !b) return false;
  return (isCutToOrigin(a) || isCutToOrigin(b)) && blockedOrigin(a) === blockedOrigin(b);
}
