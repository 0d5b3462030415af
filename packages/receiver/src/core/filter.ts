import type { NormalizedViolation } from '@csp-lens/schema';
import { schemeOf } from './fields.js';
import { urlParts } from './url.js';
import { NOISE_RULES, type NoiseRuleData } from './noise-rules.js';
import type { NoiseFilter } from './types.js';

/** A noise rule: `name` is the reason counted in the store when `test` drops a violation. */
export interface NoiseRule {
  name: string;
  test(v: NormalizedViolation): boolean;
}

/** Drops violations whose blockedURL or sourceFile uses one of `schemes` (URL or scheme-only). */
export function schemeRule(name: string, schemes: Iterable<string>): NoiseRule {
  const set = new Set([...schemes].map((s) => s.toLowerCase()));
  const hit = (u: string | undefined) => set.has(schemeOf(u) ?? '');
  return { name, test: (v) => hit(v.blockedURL) || hit(v.sourceFile) };
}

/**
 * The host of a URL, or of a value browsers send without a scheme (`nikkomsgchannel`,
 * `cdn.example/x.js`: older reports and extensions' made-up hosts).
 */
function hostOf(u: string | undefined): string | undefined {
  if (u === undefined) return undefined;
  const parts = urlParts(u);
  if (parts) return parts.hostname;
  return /^([a-z0-9-]+(?:\.[a-z0-9-]+)*)(?::\d+)?(?:[/?#]|$)/i.exec(u)?.[1]?.toLowerCase();
}

/**
 * Drops violations whose blockedURL or sourceFile (and with `documents`, documentURL) is on one of
 * `hosts` (`*.x`: x and below).
 */
export function hostRule(name: string, hosts: Iterable<string>, documents = false): NoiseRule {
  const exact = new Set<string>();
  const suffixes: string[] = [];
  for (const h of hosts) {
    const host = h.toLowerCase();
    if (host.startsWith('*.')) suffixes.push(host.slice(1)), exact.add(host.slice(2));
    else exact.add(host);
  }
  const hit = (u: string | undefined) => {
    const host = hostOf(u);
    return host !== undefined && (exact.has(host) || suffixes.some((s) => host.endsWith(s)));
  };
  return { name, test: (v) => hit(v.blockedURL) || hit(v.sourceFile) || (documents && hit(v.documentURL)) };
}

/**
 * Whether a value starts with one of `prefixes` (ASCII, as the rules' are), in any case: one
 * case-insensitive regular expression, not a lower-cased copy of the URL per rule and report.
 */
function prefixTest(prefixes: readonly string[]): (s: string) => boolean {
  const re = new RegExp(`^(?:${prefixes.map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|')})`, 'i');
  return (s) => re.test(s);
}

/** One rule of noise-rules.ts as a test: every condition it lists must hold. */
function compile(d: NoiseRuleData): NoiseRule {
  const tests: ((v: NormalizedViolation) => boolean)[] = [];
  if (d.schemes) tests.push(schemeRule(d.name, d.schemes).test);
  if (d.hosts) tests.push(hostRule(d.name, d.hosts, d.documents).test);
  if (d.documentsNotStartingWith) {
    const starts = prefixTest(d.documentsNotStartingWith);
    tests.push((v) => !starts(v.documentURL));
  }
  if (d.blockedPrefixes) {
    const starts = prefixTest(d.blockedPrefixes);
    tests.push((v) => v.blockedURL !== undefined && starts(v.blockedURL));
  }
  if (d.samples) {
    const { blocked, directives, contains } = d.samples;
    tests.push((v) => v.sample !== undefined && blocked.includes(v.blockedURL ?? '') && directives.includes(v.effectiveDirective) && contains.some((c) => v.sample!.includes(c)));
  }
  return { name: d.name, test: (v) => tests.every((t) => t(v)) };
}

/** The rules on by default, in the order they are tried (the opt-in ones are left out). */
export const DEFAULT_NOISE_RULES: readonly NoiseRule[] = NOISE_RULES.filter((d) => !d.optIn).map(compile);

const LOCALHOST = compile(NOISE_RULES.find((d) => d.name === 'localhost')!);

export interface NoiseFilterOptions {
  /** Custom rules, tried after the default ones. */
  add?: NoiseRule[];
  /** Default rules to leave out, by name. */
  remove?: string[];
  /** Drop violations whose document, blocked URL or source file is on localhost (default: kept). */
  dropLocalhost?: boolean;
}

/**
 * The default rules, minus `remove` (by name), plus `add`. Returns the name of the first rule that
 * drops a violation. Misconfiguration throws at start; a rule that throws on a report keeps it.
 */
export function createNoiseFilter(options: NoiseFilterOptions = {}): NoiseFilter {
  const names = new Set(DEFAULT_NOISE_RULES.map((r) => r.name));
  for (const name of options.remove ?? []) {
    if (!names.has(name)) throw new Error(`csp-lens: unknown noise rule "${name}" (known: ${[...names].join(', ')})`);
  }
  const removed = new Set(options.remove);
  const rules = DEFAULT_NOISE_RULES.filter((r) => !removed.has(r.name));
  if (options.dropLocalhost) rules.push(LOCALHOST);
  for (const rule of options.add ?? []) {
    if (typeof rule?.name !== 'string' || !rule.name || typeof rule.test !== 'function') {
      throw new Error('csp-lens: a noise rule needs a name and a test(violation) function');
    }
    if (rules.some((r) => r.name === rule.name)) throw new Error(`csp-lens: duplicate noise rule "${rule.name}"`);
    rules.push(rule);
  }
  return (v) => {
    for (const rule of rules) {
      try {
        if (rule.test(v)) return rule.name;
      } catch {
        // A buggy custom rule must not turn a report into a 5xx.
      }
    }
    return undefined;
  };
}

/** `dropLocalhost` in front of a filter an embedder wrote as a function. */
export function withLocalhost(filter: NoiseFilter): NoiseFilter {
  return (v) => (LOCALHOST.test(v) ? LOCALHOST.name : filter(v));
}
