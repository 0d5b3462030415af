// CSP source expressions: the grammar a source must match before it may go into a proposed policy
// (CSP3 §2.3.1, "source-expression"), and the sources derived from a blocked URL. Every input here
// came from a report, so from whoever can post to the receiver: a source that would not parse as
// one token of a policy (spaces, `;`, `,`, quotes, controls) could end a directive, or the header,
// and write the attacker's own policy. No I/O: the dashboard client imports this too.

// scheme-source: `https:`; the scheme part of a host-source is the same token without the colon.
const SCHEME = /^[a-z][a-z0-9+.-]*$/i;
// host-char = ALPHA / DIGIT / "-", dot-separated; an optional leading `*.` (never proposed here,
// but a policy may have one); or `*` alone.
const HOST = /^(?:\*|(?:\*\.)?[a-z0-9-]+(?:\.[a-z0-9-]+)*)$/i;
const PORT = /^(?:\d{1,5}|\*)$/;
// path-part: RFC 3986 path characters but `;` and `,` (they end a directive, or a policy), and here
// no `'` or `*` either: nothing a proposal needs, and a quote reads as the start of a keyword.
const PATH = /^(?:\/(?:[a-z0-9\-._~!$&()+=:@]|%[0-9a-f]{2})*)+$/i;
const KEYWORDS = new Set([
  "'self'", "'none'", "'unsafe-inline'", "'unsafe-eval'", "'strict-dynamic'", "'unsafe-hashes'", "'report-sample'",
  "'unsafe-allow-redirects'", "'wasm-unsafe-eval'", "'trusted-types-eval'", "'inline-speculation-rules'",
  "'report-sha256'", "'report-sha384'", "'report-sha512'", "'allow-duplicates'", "'script'",
]);
// hash-source and nonce-source: base64 or base64url, padded or not.
const HASH = /^'sha(?:256|384|512)-[a-z0-9+/_-]+={0,2}'$/i;
const NONCE = /^'nonce-[a-z0-9+/_-]+={0,2}'$/i;
/** The receiver stores policies with their nonces redacted (core/report.ts): a placeholder. */
export const REDACTED_NONCE = "'nonce-…'";
// A Trusted Types policy name (CSP3 trusted-types, tt-policy-name), and a sandbox flag.
const TOKEN = /^[a-z0-9\-#=_/@.%]+$/i;

/** A host-source, scheme-source, keyword, hash or nonce: one valid token of a fetch directive. */
export function isSourceExpression(s: string): boolean {
  if (KEYWORDS.has(s.toLowerCase()) || HASH.test(s) || NONCE.test(s) || s === REDACTED_NONCE) return true;
  if (/^[a-z][a-z0-9+.-]*:$/i.test(s)) return true;
  const m = /^(?:([^:/]+):\/\/)?([^:/]+)(?::([^/]*))?(\/.*)?$/.exec(s);
  if (!m) return false;
  const [, scheme, host, port, path] = m;
  return (scheme === undefined || SCHEME.test(scheme)) && HOST.test(host!) && (port === undefined || PORT.test(port)) && (path === undefined || PATH.test(path));
}

/**
 * A token of any directive's value: a source expression, or for the directives whose values are
 * not sources (trusted-types names, sandbox flags, `require-trusted-types-for 'script'`) a plain
 * token of the same safe characters.
 */
export function isDirectiveToken(directive: string, s: string): boolean {
  if (isSourceExpression(s)) return true;
  return (directive === 'trusted-types' || directive === 'sandbox' || directive === 'webrtc') && (TOKEN.test(s) || s === "'allow'" || s === "'block'");
}

/** A directive name as a policy spells it. */
export const isDirectiveName = (s: string): boolean => /^[a-z][a-z0-9-]{0,63}$/.test(s);

/** A CSP hash source for an SDK hash (`sha256-…` → `'sha256-…'`), when it is one. */
export function hashSource(hash: string | undefined): string | undefined {
  const s = hash === undefined ? undefined : `'${hash}'`;
  return s !== undefined && /^'sha256-[A-Za-z0-9+/]{43}='$/.test(s) ? s : undefined;
}

export interface ParsedUrl {
  scheme: string;
  host: string;
  /** Host with a non-default port, as a host-source writes it. */
  hostPort: string;
  origin: string;
  path: string;
}

/** A URL's parts, or undefined when it is none a host-source can name (no host, IPv6, userinfo). */
export function parseUrl(url: string | undefined): ParsedUrl | undefined {
  if (!url || !URL.canParse(url)) return undefined;
  const u = new URL(url);
  const scheme = u.protocol.slice(0, -1);
  if (!u.hostname || u.hostname.startsWith('[') || !HOST.test(u.hostname)) return undefined;
  // `;` and `,` are path characters in a URL but end a directive in a policy: percent-encode them.
  const path = u.pathname.replace(/;/g, '%3B').replace(/,/g, '%2C');
  return { scheme, host: u.hostname, hostPort: u.host, origin: `${scheme}://${u.host}`, path };
}

/**
 * The site of a host: the last two labels (three under a two-letter country code with a short
 * second level, `shop.example.co.uk` → `example.co.uk`), an IP address or `localhost` as it is.
 * An approximation of the registrable domain without the public suffix list: good enough to tell
 * "our own other host" from "someone else's".
 */
export function siteOf(host: string): string {
  if (/^[\d.]+$/.test(host) || !host.includes('.')) return host;
  const labels = host.split('.');
  const n = labels.length >= 3 && labels.at(-1)!.length === 2 && labels.at(-2)!.length <= 3 ? 3 : 2;
  return labels.slice(-n).join('.');
}

/** The path itself when both are one (the narrowest), else the longest directory both start with (`/js/a.js`, `/js/b.js` → `/js/`). */
export function commonPath(a: string, b: string): string {
  if (a === b) return a;
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return a.slice(0, a.lastIndexOf('/', i - 1) + 1) || '/';
}
