// Which words are CSP directives. A report's directive is attacker-controlled and becomes a group,
// a severity and a filter value: a word that is no directive ("not-a-directive", "very" from "Very
// protective directive.", "inline" from old Firefox's "inline script base restriction") is no
// violation we can file.

/**
 * CSP3 (w3c.github.io/webappsec-csp, §6 "Content Security Policy Directives"): fetch, other,
 * document, navigation and reporting directives.
 */
const CSP3 = [
  'child-src', 'connect-src', 'default-src', 'font-src', 'frame-src', 'img-src', 'manifest-src', 'media-src',
  'object-src', 'script-src', 'script-src-elem', 'script-src-attr', 'style-src', 'style-src-elem', 'style-src-attr',
  'webrtc', 'worker-src', 'base-uri', 'sandbox', 'form-action', 'frame-ancestors', 'report-uri', 'report-to',
];

/** Directives of other specs that browsers enforce and report under CSP. */
const COMPANION = [
  // Trusted Types
  'require-trusted-types-for', 'trusted-types',
  // Upgrade Insecure Requests, Mixed Content (block-all-mixed-content: deprecated, still parsed)
  'upgrade-insecure-requests', 'block-all-mixed-content',
  // Fenced Frames
  'fenced-frame-src',
];

/**
 * Removed from the drafts but shipped by some browser, so still in reports from old versions:
 * CSP2's plugin-types, CSP3 drafts' prefetch-src and navigate-to, CSP 1.1's reflected-xss and
 * referrer, and require-sri-for (Firefox, behind a flag). Sentry's relay accepts the same list.
 */
const LEGACY = ['plugin-types', 'prefetch-src', 'navigate-to', 'reflected-xss', 'referrer', 'require-sri-for'];

export const DIRECTIVES: ReadonlySet<string> = new Set([...CSP3, ...COMPANION, ...LEGACY]);

/** Why a report is not a usable violation (counted per reason in `invalidReasons`). */
export type InvalidReason = 'no-document' | 'no-directive' | 'unknown-directive';

/** The first token of a directive field, lower-case (CSP1/2 browsers send "script-src 'self' …"). */
function firstToken(v: string | undefined): string | undefined {
  return v?.trim().split(/\s+/, 1)[0]?.toLowerCase() || undefined;
}

/**
 * The directive a report names: `effective-directive` when it is a known directive, else the first
 * token of `violated-directive` (CSP1/2 browsers send no effective-directive; CSP3 defines the two
 * as the same), else the reason there is none.
 */
export function directiveOf(effective: string | undefined, violated: string | undefined): string | { invalid: InvalidReason } {
  const e = firstToken(effective);
  if (e && DIRECTIVES.has(e)) return e;
  const v = firstToken(violated);
  if (v && DIRECTIVES.has(v)) return v;
  return { invalid: e || v ? 'unknown-directive' : 'no-directive' };
}
