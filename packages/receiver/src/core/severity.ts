import type { Category, Severity } from '@csp-lens/schema';

// How a violation's severity is decided, as data: classify.ts applies it, the read API hands it to
// the dashboard (which explains each badge with it), and CoreOptions.severity adds rules of the
// user's own. No imports but types: the dashboard bundles this file.

export const SEVERITY_LEVELS: Severity[] = ['critical', 'high', 'medium', 'low'];

export const CATEGORIES: Category[] = ['inline', 'eval', 'wasm-eval', 'trusted-types', 'external', 'self', 'data', 'blob', 'extension', 'other'];

/** One built-in rule: which violations, the severity, and why (what the dashboard shows). */
export interface SeverityRule {
  severity: Severity;
  /** Matches a directive and a category. */
  when: string;
  why: string;
}

const scriptDirective = (d: string) => d === 'script-src' || d.startsWith('script-src-');

/**
 * The classic guide's ranking: cross-origin connect-src (data exfiltration) and frame-ancestors
 * (clickjacking) critical; inline script high; other cross-origin loads medium; the rest low.
 * Our additions: eval/wasm-eval and trusted-types sinks are high too — a string reaching a code or
 * DOM-injection sink is the XSS path CSP exists to stop, as serious as inline script.
 */
export const BUILT_IN_RULES: (SeverityRule & { test: (directive: string, category: Category) => boolean })[] = [
  { severity: 'critical', when: 'frame-ancestors', why: 'another site tried to frame this page: the clickjacking that frame-ancestors exists to stop', test: (d) => d === 'frame-ancestors' },
  { severity: 'critical', when: 'connect-src to another origin', why: 'script sent a request to another origin: the way data leaves a page (exfiltration)', test: (d, c) => d === 'connect-src' && c === 'external' },
  { severity: 'high', when: 'inline script (script-src*)', why: 'inline script or an event handler ran or was blocked: the shape of an injected script (XSS)', test: (d, c) => c === 'inline' && scriptDirective(d) },
  { severity: 'high', when: 'eval, wasm-eval, trusted types', why: 'a string reached a code or DOM-injection sink: the path XSS takes', test: (_d, c) => c === 'eval' || c === 'wasm-eval' || c === 'trusted-types' },
  { severity: 'medium', when: 'any other load from another origin', why: 'a resource from a third party the policy does not allow (yet): usually a missing source, sometimes an injected one', test: (_d, c) => c === 'external' },
  { severity: 'low', when: 'everything else', why: 'same-origin, data:, blob:, extension or inline-style content: rarely an attack, mostly policy housekeeping', test: () => true },
];

/**
 * Rules of the user's own (`--severity connect-src=high`, `CoreOptions.severity`): a selector
 * `<directive>`, `<directive>:<category>`, `*:<category>` or `*`, and the severity it gets. A
 * directive also matches its `-elem` and `-attr` forms (`script-src` covers `script-src-elem`).
 */
export type SeverityOverrides = Record<string, Severity>;

const SELECTOR = /^(\*|[a-z][a-z0-9-]{0,63})(?::([a-z-]+))?$/;

/** The overrides, checked: a bad selector or severity throws a `csp-lens:` error naming it. */
export function checkSeverityOverrides(o: unknown, flag = 'severity'): SeverityOverrides {
  if (o === undefined) return {};
  if (typeof o !== 'object' || o === null || Array.isArray(o)) throw new Error(`csp-lens: ${flag} must be an object of selector → severity, like { "connect-src": "high" }`);
  const out: SeverityOverrides = Object.create(null);
  for (const [selector, sev] of Object.entries(o)) {
    const m = SELECTOR.exec(selector);
    if (!m) throw new Error(`csp-lens: ${flag}: ${JSON.stringify(selector)} is not a selector; use a directive (connect-src), directive:category (script-src:inline), *:category or *`);
    if (m[2] !== undefined && !CATEGORIES.includes(m[2] as Category)) throw new Error(`csp-lens: ${flag}: unknown category ${JSON.stringify(m[2])} in ${JSON.stringify(selector)}; categories: ${CATEGORIES.join(', ')}`);
    if (!SEVERITY_LEVELS.includes(sev as Severity)) throw new Error(`csp-lens: ${flag}: ${JSON.stringify(selector)} must map to ${SEVERITY_LEVELS.join(', ')}, got ${JSON.stringify(sev)}`);
    out[selector] = sev as Severity;
  }
  return out;
}

/** `connect-src=high` (the CLI's form) as an override; throws a `csp-lens:` error naming the flag. */
export function parseSeverityFlag(values: string[], flag = '--severity'): SeverityOverrides {
  const o: Record<string, string> = {};
  for (const raw of values.flatMap((v) => v.split(',')).map((v) => v.trim()).filter(Boolean)) {
    const eq = raw.lastIndexOf('=');
    if (eq <= 0) throw new Error(`csp-lens: ${flag} takes selector=severity, like connect-src=high; got ${JSON.stringify(raw)}`);
    o[raw.slice(0, eq).trim().toLowerCase()] = raw.slice(eq + 1).trim().toLowerCase();
  }
  return checkSeverityOverrides(o, flag);
}

const family = (rule: string, directive: string) => directive === rule || directive === `${rule}-elem` || directive === `${rule}-attr`;

/**
 * The override that applies, most specific first: directive and category, directive, category,
 * `*`; an exact directive before its `-elem`/`-attr` family.
 */
export function matchOverride(o: SeverityOverrides, directive: string, category: Category): [selector: string, severity: Severity] | undefined {
  let best: [string, Severity, number] | undefined;
  for (const [selector, sev] of Object.entries(o)) {
    const [d, c] = selector.split(':') as [string, string | undefined];
    if (c !== undefined && c !== category) continue;
    let rank: number;
    if (d === '*') rank = c === undefined ? 1 : 3;
    else if (d === directive) rank = c === undefined ? 6 : 8;
    else if (family(d, directive)) rank = c === undefined ? 5 : 7;
    else continue;
    if (!best || rank > best[2]) best = [selector, sev, rank];
  }
  return best && [best[0], best[1]];
}

/** A violation's severity under the built-in rules and `overrides`, and why. */
export function explainSeverity(directive: string, category: Category, overrides: SeverityOverrides = {}): { severity: Severity; why: string; rule: string } {
  const own = matchOverride(overrides, directive, category);
  if (own) return { severity: own[1], why: `a rule of this receiver (--severity ${own[0]}=${own[1]})`, rule: own[0] };
  const r = BUILT_IN_RULES.find((x) => x.test(directive, category))!;
  return { severity: r.severity, why: r.why, rule: r.when };
}
