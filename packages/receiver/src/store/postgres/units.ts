import type { NormalizedViolation, ViolationRecord } from '@csp-lens/schema';
import type { Unit } from '../../core/merge.js';

/**
 * The fields a violation and the record made of it both have, by name. A record takes most of them
 * from its units (merge.ts buildRecord), so a unit's violation repeats most of its record: stored,
 * it keeps only what differs (bench/notes.md round 8: a unit was 900 bytes of JSON, its record 916).
 */
const SHARED = [
  'documentURL', 'referrer', 'blockedURL', 'effectiveDirective', 'violatedDirective', 'disposition', 'sourceFile', 'lineNumber',
  'columnNumber', 'sample', 'statusCode', 'category', 'severity', 'occurredAt', 'count', 'userAgent', 'clientIp', 'page', 'element',
  'noElement', 'sinceLoad',
] as const satisfies readonly (keyof NormalizedViolation & keyof ViolationRecord)[];
const isShared = new Set<string>(SHARED);

type Fields = Record<string, unknown>;

/** What a commit compares to tell a loaded unit that changed (write.ts). */
export const unitSig = (u: Unit) => `${u.rid}|${u.count}|${u.at}|${u.lastReceivedAt}`;

/**
 * A unit as the units table holds it. Its violation is either whole (`v`: units written before schema
 * version 10, and any unit stored without its record) or relative to the record the unit's `rid`
 * names, written in the same transaction: `d` the violation's fields that are not the record's,
 * `x` the shared fields the record has and the violation does not. Whoever rewrites a record
 * rewrites its units with it (write.ts), so the two never drift apart. Never the policy text: the
 * policies table has it.
 */
export interface StoredUnit {
  seq: number;
  stream: Unit['stream'];
  at: number;
  count: number;
  firstReceivedAt: number;
  lastReceivedAt: number;
  policyHash?: string;
  v?: Omit<NormalizedViolation, 'originalPolicy'>;
  d?: Fields;
  x?: string[];
}

/** `u` as stored beside `record`, the record it is part of as this transaction writes it. */
export function storedUnit(u: Unit, record: ViolationRecord | null | undefined): StoredUnit {
  const head = { seq: u.seq, stream: u.stream, at: u.at, count: u.count, firstReceivedAt: u.firstReceivedAt, lastReceivedAt: u.lastReceivedAt, policyHash: u.policyHash };
  const v = u.v as unknown as Fields;
  if (!record) {
    const { originalPolicy, ...whole } = u.v;
    return { ...head, v: whole };
  }
  const r = record as unknown as Fields;
  const d: Fields = {};
  for (const k in v) {
    const value = v[k];
    // Objects (page, element) are the record's own when shared: the record was built from this
    // unit's violation, or loaded with it (`loadedUnit`).
    if (value === undefined || k === 'originalPolicy' || (isShared.has(k) && r[k] === value)) continue;
    d[k] = value;
  }
  let x: string[] | undefined;
  for (const k of SHARED) if (v[k] === undefined && r[k] !== undefined) (x ??= []).push(k);
  return x ? { ...head, d, x } : { ...head, d };
}

/** A stored unit back as the merge knows it (without `rid`), its violation rebuilt from `record` where it was stored against it. */
export function loadedUnit(stored: StoredUnit, record: ViolationRecord | null): Unit {
  const { v, d, x, ...head } = stored;
  if (v) return { ...head, v: v as NormalizedViolation };
  if (!record) throw new Error(`csp-lens: unit ${stored.seq} is stored against its record, and the record is gone`);
  const r = record as unknown as Fields;
  const out: Fields = {};
  for (const k of SHARED) {
    const value = r[k];
    if (value !== undefined && !x?.includes(k)) out[k] = value;
  }
  Object.assign(out, d);
  return { ...head, v: out as unknown as NormalizedViolation };
}
