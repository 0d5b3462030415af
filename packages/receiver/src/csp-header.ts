import type { Middleware } from 'koa';
import { randomBytes } from 'node:crypto';

export interface CspHeaderOptions {
  /** `{ 'script-src': ["'self'"], 'upgrade-insecure-requests': true }`; a string is split on spaces. */
  directives: Record<string, string[] | string | true>;
  /** Send `Content-Security-Policy-Report-Only` instead of enforcing. */
  reportOnly?: boolean;
  /** Where `report-uri` points, e.g. `/csp/report` (relative to the page, or absolute). */
  reportUri?: string;
  /** A `report-to` group and its endpoint; a path is resolved against the request's origin. */
  reportTo?: { group?: string; url: string };
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
const NONCED = ['script-src', 'style-src'] as const;
// Where a nonce counts: the element directives override script-src/style-src for elements.
const TAKES_NONCE = new Set<string>([...NONCED, 'script-src-elem', 'style-src-elem']);

function fail(message: string): never {
  throw new TypeError(`csp-lens: ${message}`);
}

function parseDirectives(directives: CspHeaderOptions['directives']): Map<string, string[]> {
  if (!directives || typeof directives !== 'object' || Array.isArray(directives)) {
    fail('cspHeader({ directives }) must be an object of directive name → source list');
  }
  const out = new Map<string, string[]>();
  for (const [name, value] of Object.entries(directives)) {
    if (!DIRECTIVE.test(name)) fail(`cspHeader: "${name}" is not a directive name (lowercase, like "script-src")`);
    if (name === 'report-uri' || name === 'report-to') {
      fail(`cspHeader: set ${name} with the reportUri / reportTo options, not in directives`);
    }
    let list: string[];
    if (value === true) list = [];
    else if (typeof value === 'string') list = value.split(/\s+/).filter(Boolean);
    else if (Array.isArray(value) && value.every((v) => typeof v === 'string')) list = value.slice();
    else fail(`cspHeader: directive "${name}" must be a string, an array of strings or true`);
    for (const v of list) {
      if (!v || BAD_VALUE.test(v)) fail(`cspHeader: directive "${name}" has an invalid source ${JSON.stringify(v)}`);
    }
    out.set(name, list);
  }
  if (out.size === 0) fail('cspHeader({ directives }) is empty: a policy needs at least one directive');
  return out;
}

function checkUrl(what: string, url: unknown): string {
  if (typeof url !== 'string' || !url || BAD_VALUE.test(url) || url.includes('"')) {
    fail(`cspHeader: ${what} must be a URL or an absolute path without spaces, ";", "," or quotes`);
  }
  if (!url.startsWith('/') && !/^https?:\/\//.test(url)) {
    fail(`cspHeader: ${what} must start with "/", "http://" or "https://" (got ${JSON.stringify(url)})`);
  }
  return url;
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
  const reportTo = options.reportTo && { ...options.reportTo };
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
    // Not ctx.origin: since Koa 3 that is the request's Origin header.
    const origin = `${ctx.protocol}://${ctx.host}`;
    if (reportTo && ctx.secure) {
      const endpoint = reportTo.url.startsWith('/') ? origin + reportTo.url : reportTo.url;
      if (reportUri) parts.push(`report-uri ${reportUri}`);
      parts.push(`report-to ${reportTo.group}`);
      ctx.append('Reporting-Endpoints', `${reportTo.group}="${endpoint}"`);
    } else {
      if (reportTo && !warnedHttp) {
        // Chromium ignores Reporting-Endpoints on http pages *and* then drops report-uri as well when
        // report-to is in the policy: the page would report nothing at all (DESIGN §2).
        warnedHttp = true;
        warn(
          `csp-lens: report-to cannot be delivered from the http page ${origin}${ctx.path}: ` +
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
