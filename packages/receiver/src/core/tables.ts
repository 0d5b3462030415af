import type { PageContext, PolicyEntry } from '@csp-lens/schema';
import { memoize, sha256 } from './hash.js';

// The shared tables of the live state: each policy text and each page context once, referenced by
// the live records that use them, and let go with the last of those records. Sizes are UTF-8 bytes
// of their JSON, what they add to the live file.

export const utf8 = (s: string): number => Buffer.byteLength(s, 'utf8');

// What JSON.stringify escapes in a string: the quote, the backslash, control characters and lone
// surrogates (as \uXXXX). Stored text rarely has any.
const ESCAPED = /["\\\u0000-\u001f\ud800-\udfff]/;
// Printable ASCII but the quote and the backslash, and nothing else.
const PLAIN = /^[ !#-[\]-~]*$/;

// A key's size, quoted, with its colon, remembered: the objects sized (records) repeat the same few
// dozen keys, and a scan per member was a fifth of the sizing.
const keyBytes = memoize((key) => jsonBytes(key) + 1, 1024);

/** Decimal digits of a safe integer ≥ 0, as JSON writes it. */
function digits(n: number): number {
  let d = 1;
  while (n >= 10) {
    n = Math.floor(n / 10);
    d++;
  }
  return d;
}

/**
 * `utf8(JSON.stringify(value))` without building the string: sizes are asked for every record the
 * live window takes, and the string would be garbage at once. Plain data only (what records are):
 * strings, finite numbers, booleans, null, arrays and objects, undefined members skipped.
 */
export function jsonBytes(value: unknown): number {
  switch (typeof value) {
    case 'string':
      // Most stored text is printable ASCII without a quote or backslash: one byte a character,
      // told by one scan. Otherwise a string with surrogate pairs (non-BMP) also matches ESCAPED:
      // the rare slow path counts it exactly.
      if (PLAIN.test(value)) return value.length + 2;
      return ESCAPED.test(value) ? utf8(JSON.stringify(value)) : utf8(value) + 2;
    case 'number':
      // Counts (small integers) and times (13 digits) without building their string.
      if (Number.isSafeInteger(value) && value >= 0) return digits(value);
      return Number.isFinite(value) ? String(value).length : 4;
    case 'boolean':
      return value ? 4 : 5;
    case 'object': {
      if (value === null) return 4;
      if (Array.isArray(value)) {
        let n = value.length ? value.length + 1 : 2;
        for (const x of value) n += x === undefined ? 4 : jsonBytes(x);
        return n;
      }
      if (typeof (value as { toJSON?: unknown }).toJSON === 'function') return utf8(JSON.stringify(value));
      let n = 1;
      let members = 0;
      for (const key in value) {
        if (!Object.hasOwn(value, key)) continue;
        const x = (value as Record<string, unknown>)[key];
        if (x === undefined) continue;
        n += keyBytes(key) + jsonBytes(x);
        members++;
      }
      return n + (members ? members : 1);
    }
    default:
      return 0;
  }
}

// Every report carries its policy (KBs), mostly one of a few: hashed once each, remembered.
export const policyHash = memoize((policy) => sha256(policy, 'hex').slice(0, 16), 256);

const pageKeys = new WeakMap<PageContext, { key: string; bytes: number }>();

/**
 * A page context's key: a hash of its content. The SDK sends its page context with every batch (its
 * URL, viewport and app context can change within one page view), and every event of a batch
 * shares it: stored once per distinct content, not once per record.
 */
export function pageKey(page: PageContext): { key: string; bytes: number } {
  let k = pageKeys.get(page);
  if (!k) {
    const json = JSON.stringify(page);
    pageKeys.set(page, (k = { key: `p${sha256(json, 'base64url').slice(0, 16)}`, bytes: utf8(json) + 24 }));
  }
  return k;
}

export interface Shared<T> {
  value: T;
  refs: number;
  bytes: number;
}

/** A table of shared values with reference counts and a byte total. */
function refTable<T>() {
  const map = new Map<string, Shared<T>>();
  let bytes = 0;
  return {
    map,
    get bytes() {
      return bytes;
    },
    /** The stored value under `key`, added (unreferenced) if new. */
    intern(key: string, make: () => { value: T; bytes: number }): T {
      let e = map.get(key);
      if (!e) {
        const { value, bytes: b } = make();
        map.set(key, (e = { value, refs: 0, bytes: b }));
        bytes += b;
      }
      return e.value;
    },
    ref(key: string, n: 1 | -1): void {
      const e = map.get(key);
      if (e) e.refs += n;
    },
    /** The values by key, as persisted. */
    toJSON(): Record<string, T> {
      const out: Record<string, T> = {};
      for (const [key, e] of map) out[key] = e.value;
      return out;
    },
    /** Drops the values no live record refers to; returns how many. */
    prune(keys: Iterable<string>): number {
      let n = 0;
      for (const key of keys) {
        const e = map.get(key);
        if (!e || e.refs > 0) continue;
        map.delete(key);
        bytes -= e.bytes;
        n++;
      }
      return n;
    },
  };
}

/** Policy texts by hash (the policy table of DESIGN §4), persisted as `PolicyEntry`s. */
export function createPolicyTable(saved: Record<string, PolicyEntry>) {
  const t = refTable<PolicyEntry>();
  for (const [hash, p] of Object.entries(saved)) t.intern(hash, () => ({ value: p, bytes: utf8(p.policy) + 96 }));
  return Object.assign(t, {
    /** The entry for a report's policy (counted as one more report), the text shared. */
    add(policy: string, at: number): PolicyEntry {
      const hash = policyHash(policy);
      const entry = t.intern(hash, () => ({ value: { hash, policy, firstSeen: at, count: 0 }, bytes: utf8(policy) + 96 }));
      // Two texts with one 64-bit hash: the first keeps it (as it always has).
      entry.count++;
      return entry;
    },
    text: (hash: string): string | undefined => t.map.get(hash)?.value.policy,
  });
}

/** Page contexts by content key. */
export function createPageTable(saved: Record<string, PageContext> | undefined) {
  const t = refTable<PageContext>();
  for (const page of Object.values(saved ?? {})) t.intern(pageKey(page).key, () => ({ value: page, bytes: pageKey(page).bytes }));
  return Object.assign(t, {
    /** The stored copy of a page context equal to `page`. */
    add(page: PageContext): PageContext {
      const k = pageKey(page);
      return t.intern(k.key, () => ({ value: page, bytes: k.bytes }));
    },
    byKey: (key: string): PageContext | undefined => t.map.get(key)?.value,
  });
}
