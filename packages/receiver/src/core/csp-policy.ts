// A policy as directives, and which of them governs a violation. No I/O: the dashboard client
// builds the proposed header from these too.
import { isDirectiveName, isDirectiveToken } from './csp-source.js';

/** Directive name → its sources, in policy order. */
export type Directives = Map<string, string[]>;

// CSP3 §6.8.3 ("Get the effective directive's fallback list"): which directive applies when the
// effective one is absent. Directives not listed fall back to default-src, but for those in
// NO_FALLBACK, which apply only when present.
const FALLBACK: Record<string, string[]> = {
  'script-src-elem': ['script-src', 'default-src'],
  'script-src-attr': ['script-src', 'default-src'],
  'style-src-elem': ['style-src', 'default-src'],
  'style-src-attr': ['style-src', 'default-src'],
  'worker-src': ['child-src', 'script-src', 'default-src'],
  'frame-src': ['child-src', 'default-src'],
};
const NO_FALLBACK = new Set([
  'default-src', 'base-uri', 'form-action', 'frame-ancestors', 'navigate-to', 'sandbox', 'report-uri', 'report-to',
  'require-trusted-types-for', 'trusted-types', 'upgrade-insecure-requests', 'block-all-mixed-content', 'webrtc',
]);
// Where an addition for an element or attribute directive goes when the policy has the family's
// directive: there (as most policies are written, and what browsers without -elem/-attr read).
const FAMILY: Record<string, string> = {
  'script-src-elem': 'script-src',
  'script-src-attr': 'script-src',
  'style-src-elem': 'style-src',
  'style-src-attr': 'style-src',
};

export interface ParsedPolicy {
  directives: Directives;
  /** Tokens that are no valid source expression (or directive names that are none): left out. */
  rejected: string[];
}

/**
 * A policy text as directives. The first occurrence of a directive wins (CSP3 §2.2.1); report-uri
 * and report-to are dropped (a proposal points them at this receiver). Invalid tokens are left out
 * and returned: the policy text came from a report too.
 */
export function parsePolicy(text: string | undefined): ParsedPolicy {
  const directives: Directives = new Map();
  const rejected: string[] = [];
  for (const part of (text ?? '').split(';')) {
    const [rawName, ...tokens] = part.trim().split(/[\t\n\f\r ]+/).filter(Boolean);
    if (!rawName) continue;
    const name = rawName.toLowerCase();
    if (!isDirectiveName(name)) {
      rejected.push(rawName);
      continue;
    }
    if (directives.has(name) || name === 'report-uri' || name === 'report-to') continue;
    const ok = tokens.filter((t) => isDirectiveToken(name, t) || (rejected.push(t), false));
    directives.set(name, ok);
  }
  return { directives, rejected };
}

/** The directive that decided a violation of `effective`: itself, or what it falls back to. */
export function governing(effective: string, directives: Directives): string | undefined {
  const chain = [effective, ...(FALLBACK[effective] ?? (NO_FALLBACK.has(effective) ? [] : ['default-src']))];
  return chain.find((d) => directives.has(d));
}

export interface Target {
  /** The directive to add to. */
  directive: string;
  /** It is not in the policy: it starts as a copy of `from` (undefined: of nothing). */
  created: boolean;
  from?: string;
  /** Its sources today (for a created one, the copy). */
  base: string[];
}

/**
 * Where a source for a violation of `effective` goes, with the smallest reach: the governing
 * directive when it is the effective one or its family's (`script-src` for `script-src-elem`);
 * otherwise a new directive for it, starting from the governing one's sources (adding a host to
 * default-src would allow it for every kind of load).
 */
export function targetFor(effective: string, directives: Directives): Target {
  const gov = governing(effective, directives);
  const family = FAMILY[effective];
  if (gov && (gov === effective || gov === family)) return { directive: gov, created: false, base: directives.get(gov)! };
  const name = family ?? effective;
  return { directive: name, created: true, from: gov, base: gov ? directives.get(gov)!.slice() : [] };
}

/** Adds sources to a list: `'none'` goes (it must stand alone), duplicates are skipped. */
export function withSources(list: string[], add: string[]): string[] {
  const out = list.filter((s) => s.toLowerCase() !== "'none'");
  for (const s of add) if (!out.includes(s)) out.push(s);
  return out.length ? out : ["'none'"];
}

/** Directives as a policy text (`a x y; b z`). */
export function serializePolicy(directives: Iterable<[string, string[]]>): string {
  return [...directives].map(([name, list]) => (list.length ? `${name} ${list.join(' ')}` : name)).join('; ');
}
