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

export function categorize(
  blockedURL: string | undefined,
  documentURL: string | undefined,
  effectiveDirective: string,
): Category {
  // script-src-attr / style-src-attr only ever block inline handlers and style="" attributes.
  if (effectiveDirective.endsWith('-attr')) return 'inline';
  if (blockedURL === undefined) return 'other';
  const keyword = KEYWORDS[blockedURL.toLowerCase()];
  if (keyword) return keyword;
  const scheme = schemeOf(blockedURL);
  if (scheme === 'data') return 'data';
  if (scheme === 'blob') return 'blob';
  if (scheme && EXTENSION_SCHEMES.has(scheme)) return 'extension';
  // Old Firefox reported inline violations as blocked-uri "self".
  if (blockedURL === 'self') return 'self';
  const blocked = webOrigin(blockedURL);
  if (!blocked) return 'other';
  return blocked === webOrigin(documentURL) ? 'self' : 'external';
}

/** A violation's severity under the built-in rules (core/severity.ts, which also says why). */
export function severity(v: Pick<NormalizedViolation, 'effectiveDirective' | 'category'>): Severity {
  return BUILT_IN_RULES.find((r) => r.test(v.effectiveDirective, v.category))!.severity;
}
