// Coercion of attacker-controlled values: every reader returns a well-typed value or undefined,
// never throws, and caps what it keeps.

/** Length caps (UTF-16 code units). Chromium's samples are 40 chars; URLs rarely pass 2 KiB. */
export const CAP = {
  url: 2048,
  /** violatedDirective may carry the whole source list (CSP1 browsers). */
  directiveList: 1024,
  /** Real policies with many hosts pass 8 KiB; stored once per distinct policy. */
  policy: 16384,
  sample: 256,
  userAgent: 512,
  id: 128,
  short: 128,
  lang: 35,
  tag: 32,
  selector: 256,
  html: 512,
  tagKey: 64,
  tagValue: 256,
  tags: 32,
  /** JSON length of the SDK's free-form page context. */
  context: 4096,
  reportType: 64,
  /** Distinct non-CSP report types named per batch, and in the store (the rest: `other-types`). */
  reportTypes: 20,
  storedReportTypes: 100,
} as const;

/** Keys that could reach Object.prototype when copied; rejected by parse, skipped here too. */
export const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

export type Obj = Record<string, unknown>;

export function isObject(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Own property only: `o.constructor` would otherwise read Object.prototype's. */
export function own(o: Obj, key: string): unknown {
  return Object.hasOwn(o, key) ? o[key] : undefined;
}

/** The first of `keys` that `o` has as an own property (browsers disagree on names). */
export function pick(o: Obj, keys: readonly string[]): unknown {
  for (const k of keys) if (Object.hasOwn(o, k) && o[k] !== undefined && o[k] !== null) return o[k];
  return undefined;
}

// C0 control characters but tab, line feed and carriage return, and DEL.
const CONTROLS = /[\x01-\x08\x0b\x0c\x0e-\x1f\x7f]/g;
const SUSPECT = /[\0-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]/;
// A high surrogate not followed by a low one, or a low one not preceded by a high one.
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/**
 * The one rule for every string an attacker sends us, applied on ingest so both stores get the
 * same input. NUL is removed: PostgreSQL's text and jsonb cannot hold it at all, and it breaks
 * C-based tooling downstream. A lone surrogate becomes U+FFFD: it is no Unicode text (jsonb and
 * UTF-8 reject it), and one in a batched insert failed every report of that commit. The other C0
 * controls (but tab, LF, CR) and DEL become U+FFFD too: no URL, directive, user agent, sample or
 * element markup has a use for them, and a C0 control costs 6 bytes of JSON (`\u0001`). With them
 * gone, every stored UTF-16 unit costs at most 3 bytes of JSON (U+FFFD and the rest of the BMP 3,
 * an escaped `"`, `\`, tab, LF or CR 2, each half of a surrogate pair 2), so a length cap in
 * characters bounds the bytes stored.
 */
export function cleanText(s: string): string {
  // Most text has none of these: one scan, no copy.
  if (!SUSPECT.test(s)) return s;
  if (s.includes('\0')) s = s.replace(/\0/g, '');
  return s.replace(LONE_SURROGATE, '\ufffd').replace(CONTROLS, '\ufffd');
}

/**
 * A string cut to `max` and cleaned (cleanText). Empty or not a string ⇒ undefined.
 */
export function str(v: unknown, max: number): string | undefined {
  if (typeof v !== 'string') return undefined;
  let s = v.length > max * 4 ? v.slice(0, max * 4) : v;
  if (s.includes('\0')) s = s.replace(/\0/g, '');
  if (s.length > max) {
    s = s.slice(0, max);
    // Never leave half a surrogate pair at the cut.
    const last = s.charCodeAt(max - 1);
    if (last >= 0xd800 && last <= 0xdbff) s = s.slice(0, -1);
  }
  s = cleanText(s);
  return s === '' ? undefined : s;
}

/** A URL with its fragment dropped (reports never carry one; the merge compares without it). */
export function urlNoFragment(v: unknown): string | undefined {
  const s = str(v, CAP.url * 2);
  if (s === undefined) return undefined;
  const hash = s.indexOf('#');
  return str(hash === -1 ? s : s.slice(0, hash), CAP.url);
}

/**
 * An integer in [min, max]: a number that is one, or a string that is a clean decimal integer
 * (`"200"`, not `"2e2"`, `"0x10"` or `"12px"`). Anything else ⇒ undefined.
 */
export function int(v: unknown, min: number, max: number): number | undefined {
  let n: number;
  if (typeof v === 'number') n = v;
  else if (typeof v === 'string' && /^\s*-?\d{1,15}\s*$/.test(v)) n = Number(v);
  else return undefined;
  return Number.isSafeInteger(n) && n >= min && n <= max ? n : undefined;
}

/** A finite number (or clean integer string), clamped to [min, max]. */
export function clampNum(v: unknown, min: number, max: number): number | undefined {
  const n = typeof v === 'number' ? v : int(v, -Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
  if (n === undefined || !Number.isFinite(n)) return undefined;
  return Math.min(max, Math.max(min, n));
}

/**
 * A count: an integer of any size (a number, or a decimal string of any length) saturated to
 * [min, max], so that a forged huge count is the largest we keep rather than ignored or an
 * overflow further on. Fractions, exponents and anything else ⇒ undefined.
 */
export function saturate(v: unknown, min: number, max: number): number | undefined {
  let n: number;
  if (typeof v === 'number') n = v;
  else if (typeof v === 'string' && /^\s*-?\d{1,400}\s*$/.test(v)) n = Number(v);
  else return undefined;
  return Number.isInteger(n) || Math.abs(n) === Infinity ? Math.min(max, Math.max(min, n)) : undefined;
}

/** Lower-case scheme of a URL or of a scheme-only value (`data`, `blob`), if it has one. */
export function schemeOf(v: string | undefined): string | undefined {
  if (v === undefined) return undefined;
  // A scan, not a regular expression's match: asked of every report's URLs by the noise rules,
  // classification and the merge, and the common answers are constants (nothing allocated).
  let i = 0;
  let upper = false;
  for (; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c >= 97 && c <= 122) continue; // a-z
    if (c >= 65 && c <= 90) upper = true; // A-Z
    else if (i === 0 || !((c >= 48 && c <= 57) || c === 43 || c === 45 || c === 46)) break; // then 0-9 + - .
  }
  if (i === 0 || (i < v.length && v.charCodeAt(i) !== 58)) return undefined;
  if (!upper) {
    if (i === 5 && v.startsWith('https')) return 'https';
    if (i === 4 && v.startsWith('http')) return 'http';
    if (i === 4 && v.startsWith('data')) return 'data';
    if (i === 4 && v.startsWith('blob')) return 'blob';
  }
  const scheme = i === v.length ? v : v.slice(0, i);
  return upper ? scheme.toLowerCase() : scheme;
}

/**
 * Adds to a tally keyed by a name from a payload (report type, directive). Own properties only:
 * `tally.constructor` would otherwise start from Object.prototype's function.
 */
export function bump(tally: Record<string, number>, key: string, n = 1): void {
  tally[key] = (Object.hasOwn(tally, key) ? tally[key] : 0) + n;
}

/** Counts one unusable item of a batch, under its reason (ours, never the sender's words). */
export function countInvalid(batch: { invalid: number; invalidReasons?: Record<string, number> }, reason: string): void {
  batch.invalid++;
  bump((batch.invalidReasons ??= {}), reason);
}

/**
 * The name a non-CSP report type is counted under in the store: its own once named, or while fewer
 * than `CAP.storedReportTypes` are; else `other-types`. Each batch may bring 20 new names the
 * sender chose, so without this the counters (and the live file) would grow without bound.
 */
export function storedTypeName(named: { has(name: string): boolean; readonly size: number }, type: string): string {
  return named.has(type) || named.size < CAP.storedReportTypes ? type : 'other-types';
}
