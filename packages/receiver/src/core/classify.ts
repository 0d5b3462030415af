import type { Category, NormalizedViolation, Severity } from '@csp-lens/schema';
import { schemeOf } from './fields.js';
import { urlParts } from './url.js';
import { BUILT_IN_RULES } from './severity.js';

/** blocked-uri keywords of CSP3 §5.5 ("Obtain the blockedURI of a violation"). */
const KEYWORDS: Record<string, Category> = {
  inline: 'inline',
  eval: 'eval',
  'wasm-eval': 'wasm-eval',
  'trusted-types-policy': 'trusted-types',
  'trusted-types-sink': 'trusted-types',
};

/** Schemes under which browsers run extension code (Chromium, Firefox, Safari, old Edge, Maxthon). */
export const EXTENSION_SCHEMES = new Set([
  'chrome-extension',
  'moz-extension',
  'safari-extension',
  'safari-web-extension',
  'ms-browser-extension',
  'edge-extension',
  'extension',
  'opera-extension',
  'mxaddon-pkg',
]);

// ws: is "same origin" as http: for CSP's 'self' (CSP3 §6.7.2.8); compare them as such.
const WEB_SCHEME: Record<string, string> = { 'http:': 'http:', 'https:': 'https:', 'ws:': 'http:', 'wss:': 'https:' };

export function webOrigin(url: string | undefined): string | undefined {
  const u = url === undefined ? undefined : urlParts(url);
  const scheme = u && WEB_SCHEME[u.protocol];
  return scheme && u.host ? `${scheme}//${u.host}` : undefined;
}

/** Directives whose blocked resource may have no URL: inline script and style (and eval). */
export const SCRIPT_OR_STYLE = /^(script|style)-src(-elem|-attr)?$/;

export function categorize(
  blockedURL: string | undefined,
  documentURL: string | undefined,
  effectiveDirective: string,
): Category {
  // script-src-attr / style-src-attr only ever block inline handlers and style="" attributes.
  if (effectiveDirective.endsWith('-attr')) return 'inline';
  // CSP2 §4.4 (violation reports): blocked-uri is "the empty string if the resource has no URL
  // (inline script and inline style)"; CSP1-era browsers sent the same for eval (w3c/webappsec#52).
  // Old Firefox sent "self" instead (its console: "blocked the loading of a resource at self" for
  // an inline script; the extension-injected inline scripts peers drop by sample all come as
  // "self"; Sentry's relay reads it as "eval() or inline"). Filed as inline: eval cannot be told
  // apart, inline is by far the commoner, and under script-src both rate high.
  if ((blockedURL === undefined || blockedURL === 'self' || blockedURL === "'self'") && SCRIPT_OR_STYLE.test(effectiveDirective)) return 'inline';
  if (blockedURL === undefined) return 'other';
  const keyword = KEYWORDS[blockedURL.toLowerCase()];
  if (keyword) return keyword;
  const scheme = schemeOf(blockedURL);
  if (scheme === 'data') return 'data';
  if (scheme === 'blob') return 'blob';
  if (scheme && EXTENSION_SCHEMES.has(scheme)) return 'extension';
  // Old Firefox's "self" under any other directive: the document's own origin.
  if (blockedURL === 'self') return 'self';
  const blocked = webOrigin(blockedURL);
  if (!blocked) return 'other';
  return blocked === webOrigin(documentURL) ? 'self' : 'external';
}

/** A violation's severity under the built-in rules (core/severity.ts, which also says why). */
export function severity(v: Pick<NormalizedViolation, 'effectiveDirective' | 'category'>): Severity {
  return BUILT_IN_RULES.find((r) => r.test(v.effectiveDirective, v.category))!.severity;
}

/** A violation's category and severity by the current rules (a journal line written by an older version). */
export function reclassify(v: NormalizedViolation): void {
  if (typeof v?.effectiveDirective !== 'string' || typeof v.documentURL !== 'string') return;
  v.category = categorize(v.blockedURL, v.documentURL, v.effectiveDirective);
  v.severity = severity(v);
}
