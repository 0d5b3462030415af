import type { Middleware } from 'koa';
import { randomBytes } from 'node:crypto';

export interface CspHeaderOptions {
  /** `{ 'script-src': ["'self'"], 'upgrade-insecure-requests': true }`; a string is split on spaces. */
  directives: Record<string, string[] | string | true>;
  /** Send `Content-Security-Policy-Report-Only` instead of enforcing. */
  reportOnly?: boolean;
  /** Where `report-uri` points, e.g. `/csp/report` (relative to the page, or absolute). */
  reportUri?: string;
  /** A `report-to` group and its endpoint: an https URL, or a path on `origin`. */
  reportTo?: { group?: string; url: string };
  /**
   * The site's own https origin (`https://site.example`), against which a `reportTo.url` path is
   * resolved. Required for a path: the request's Host and X-Forwarded-Host are the client's to set.
   */
  origin?: string;
  /** Add a fresh nonce per request to script-src and style-src, as `ctx.state.cspNonce`. Default true. */
  nonce?: boolean;
  /** Where the one-time warnings go. Default `console.warn`. */
  warn?: (message: string) => void;
}

const DIRECTIVE = /^[a-z][a-z0-9-]*$/;
// Dictionary keys of a structured header (RFC 8941 §3.2): lowercase, so no `myGroup`.
const GROUP = /^[a-z*][a-z0-9_.*-]*$/;
// A source expression is one token: no spaces, no `;` or `,` (they end the directive or the policy).
const BAD_VALUE = /[\s;,]/;
// C0 controls and DEL. A NUL passed every other check; a CR or LF in a header value ends the header
// on a server that lets it through, and Node refuses it on every response instead of once at start.
const CONTROL = /[\u0000-\u001f\u007f]/;
// Header values are bytes: Node sends U+0080–U+00FF as Latin-1 and refuses the rest per response.
const NON_ASCII = /[^\u0000-\u007f]/;
const NONCED = ['script-src', 'style-src'] as const;
// Where a nonce counts: the element directives override script-src/style-src for elements.
const TAKES_NONCE = new Set<string>([...NONCED, 'script-src-elem', 'style-src-elem']);

function fail(message: string): never {
  throw new TypeError(`csp-lens: ${message}`);
}

/** Control characters and non-ASCII text, in any name, source or URL of the options. */
function checkChars(what: string, value: string, hint = ''): void {
  const c = CONTROL.exec(value);
  if (c) {
    const code = `U+${c[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}`;
    fail(`cspHeader: ${what} has a control character (${code})${hint}`);
  }
  if (NON_ASCII.test(value)) fail(`cspHeader: ${what} has a non-ASCII character: write hosts in punycode (xn--…) and percent-encode paths`);
}

function parseDirectives(directives: CspHeaderOptions['directives']): Map<string, string[]> {
  if (!directives || typeof directives !== 'object' || Array.isArray(directives)) {
    fail('cspHeader({ directives }) must be an object of directive name → source list');
  }
  const out = new Map<string, string[]>();
  for (const [name, value] of Object.entries(directives)) {
    checkChars(`directive name ${JSON.stringify(name)}`, name);
    if (!DIRECTIVE.test(name)) fail(`cspHeader: "${name}" is not a directive name (lowercase, like "script-src")`);
    if (name === 'report-uri' || name === 'report-to') {
      fail(`cspHeader: set ${name} with the reportUri / reportTo options, not in directives`);
    }
    let list: string[];
    if (value === true) list = [];
    else if (typeof value === 'string') {
      checkChars(`directive "${name}"`, value, ': separate sources with spaces, or give an array');
      list = value.split(' ').filter(Boolean);
    }
    else if (Array.isArray(value) && value.every((v) => typeof v === 'string')) list = value.slice();
    else fail(`cspHeader: directive "${name}" must be a string, an array of strings or true`);
    for (const v of list) {
      checkChars(`directive "${name}" source ${JSON.stringify(v)}`, v);
      if (!v || BAD_VALUE.test(v)) fail(`cspHeader: directive "${name}" has an invalid source ${JSON.stringify(v)}`);
    }
    out.set(name, list);
  }
  if (out.size === 0) fail('cspHeader({ directives }) is empty: a policy needs at least one directive');
  return out;
}

function checkUrl(what: string, url: unknown): string {
  if (typeof url === 'string') checkChars(what, url);
  if (typeof url !== 'string' || !url || BAD_VALUE.test(url) || url.includes('"')) {
    fail(`cspHeader: ${what} must be a URL or an absolute path without spaces, ";", "," or quotes`);
  }
  if (!url.startsWith('/') && !/^https?:\/\//.test(url)) {
    fail(`cspHeader: ${what} must start with "/", "http://" or "https://" (got ${JSON.stringify(url)})`);
  }
  if (!url.startsWith('/') && !URL.canParse(url)) fail(`cspHeader: ${what} is not a URL (got ${JSON.stringify(url)})`);
  return url;
}

/** `https://site.example[:port]`, nothing after it. */
function checkOrigin(origin: unknown): string {
  if (typeof origin === 'string') checkChars('origin', origin);
  const u = typeof origin === 'string' && URL.canParse(origin) ? new URL(origin) : undefined;
  if (!u || u.protocol !== 'https:' || u.username || u.password || `${u.origin}/` !== u.href || !/^https:\/\/[^/]+\/?$/i.test(origin as string)) {
    fail(`cspHeader: origin must be an https origin like "https://site.example", with no path, query or user (got ${JSON.stringify(origin)})`);
  }
  return u.origin;
}

/**
 * Directives (name → sources) as policy directives, with `nonce` added to the script and style
 * directives. Also for a `<meta>` policy, which no header helper can set.
 */
export function policyParts(directives: Iterable<[string, string[]]>, nonce?: string): string[] {
  const parts: string[] = [];
  for (const [name, list] of directives) {
    let sources = list;
    if (nonce && TAKES_NONCE.has(name)) {
      // 'none' must stand alone: with a nonce next to it, the nonce is the whole list.
      sources = [...list.filter((s) => s !== "'none'"), `'nonce-${nonce}'`];
    }
    parts.push(sources.length ? `${name} ${sources.join(' ')}` : name);
  }
  return parts;
}

/**
 * Koa middleware that sets the page's Content-Security-Policy (or -Report-Only) with a fresh nonce
 * per request and points report-uri / report-to at a csp-lens receiver. "https" is `ctx.secure`:
 * behind a TLS-terminating proxy, set `app.proxy = true` or every response falls back to report-uri.
 * The report-to endpoint is fixed at creation (`origin` + path, or an absolute URL), never built
 * from the request.
 */
export function cspHeader(options: CspHeaderOptions): Middleware {
  if (!options || typeof options !== 'object') fail('cspHeader(options) needs an options object');
  const directives = parseDirectives(options.directives);
  const useNonce = options.nonce !== false;
  const warn = options.warn ?? ((message: string) => console.warn(message));
  const reportUri = options.reportUri === undefined ? undefined : checkUrl('reportUri', options.reportUri);
  if (options.reportTo !== undefined && (typeof options.reportTo !== 'object' || !options.reportTo)) {
    fail('cspHeader: reportTo must be { group?, url }');
  }
  const origin = options.origin === undefined ? undefined : checkOrigin(options.origin);
  const reportTo = options.reportTo && { ...options.reportTo };
  let endpoint: string | undefined;
  if (reportTo) {
    checkUrl('reportTo.url', reportTo.url);
    reportTo.group ??= 'csp-lens';
    if (!GROUP.test(reportTo.group)) {
      fail(`cspHeader: reportTo.group "${reportTo.group}" must be lowercase letters, digits, "_", "-", "." or "*"`);
    }
    // Chromium delivers report-to only to https endpoints (an http://127.0.0.1 one received nothing).
    if (reportTo.url.startsWith('http://')) {
      fail(`cspHeader: reportTo.url must be https or a path (browsers send report-to only to https endpoints)`);
    }
    // Never the request's host: with app.proxy it is X-Forwarded-Host, and a cache that does not
    // key on it would serve every visitor a page whose reports go to the client's host.
    if (reportTo.url.startsWith('/') && !origin) {
      fail(
        `cspHeader: reportTo.url ${JSON.stringify(reportTo.url)} is a path: set origin to the site's https origin ` +
          `(origin: 'https://site.example') or give an absolute https URL; the request's Host and X-Forwarded-Host are the client's to choose`,
      );
    }
    endpoint = reportTo.url.startsWith('/') ? origin + reportTo.url : reportTo.url;
  }
  if (useNonce) {
    // A nonce switches 'unsafe-inline' off in every CSP2+ browser: say so rather than surprise.
    for (const name of [...TAKES_NONCE, 'default-src']) {
      if (directives.get(name)?.includes("'unsafe-inline'")) {
        warn(`csp-lens: cspHeader adds a nonce, which makes browsers ignore 'unsafe-inline' in ${name}`);
      }
    }
    // Without script-src/style-src the nonce goes into a copy of default-src (same fallback semantics).
    const fallback = directives.get('default-src');
    for (const name of NONCED) {
      if (!directives.has(name) && fallback) directives.set(name, fallback.slice());
    }
  }
  const headerName = options.reportOnly ? 'Content-Security-Policy-Report-Only' : 'Content-Security-Policy';
  const base = [...directives];
  let warnedHttp = false;

  return async function cspHeaderMiddleware(ctx, next) {
    const nonce = useNonce ? randomBytes(16).toString('base64') : undefined;
    const parts = policyParts(base, nonce);
    if (reportTo && ctx.secure) {
      if (reportUri) parts.push(`report-uri ${reportUri}`);
      parts.push(`report-to ${reportTo.group}`);
      ctx.append('Reporting-Endpoints', `${reportTo.group}="${endpoint}"`);
    } else {
      if (reportTo && !warnedHttp) {
        // Chromium ignores Reporting-Endpoints on http pages *and* then drops report-uri as well when
        // report-to is in the policy: the page would report nothing at all (DESIGN §2).
        warnedHttp = true;
        warn(
          `csp-lens: report-to cannot be delivered from the http page ${ctx.path}: ` +
            'sending report-uri only on http responses (serve the page over https to use report-to)',
        );
      }
      const uri = reportUri ?? reportTo?.url;
      if (uri) parts.push(`report-uri ${uri}`);
    }
    if (nonce) ctx.state.cspNonce = nonce;
    ctx.set(headerName, parts.join('; '));
    await next();
  };
}
