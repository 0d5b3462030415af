import type { NormalizedViolation, ViolationRecord } from '@csp-lens/schema';
import { type Unit, buildRecord, exactKey, isWildcard, matchUnits, unitKey, unitWide } from './merge.js';

/**
 * The live units of one bucket (DESIGN §4) and the records they make. Shared by the file store's
 * in-memory state and the PostgreSQL store, which loads a bucket's units under a lock, applies the
 * same step and writes the result back.
 */
export interface Bucket {
  groupId: string;
  units: Unit[];
  /**
   * Units that may pair with more than their exact twin (a URL cut to its origin, a report that
   * leaves fields out): while there are any, a new unit is matched against the whole bucket.
   */
  wide: number;
  /** SDK units by page view and blocked URL: a repeat in the same page view adds to its unit (made with the first). */
  sdk?: Map<string, Unit>;
  /** Its key in the state's map (state.ts: eviction empties it without building the key again). */
  key?: string;
}

// Records this far behind a unit that arrives are frozen: final. It bounds the work per report and
// the memory for a busy page; report-to's lateness does not count here because its time is already
// corrected by `age`, and a unit that arrives late (an old time) freezes nothing newer than itself.
const HORIZON_MS = 10 * 60_000;
// Bounds on what one matching looks at, whatever arrives (the matching's work grows with the pairs
// that can match): units that pair widely (each is looked at by every SDK unit of the bucket), and
// all units. One page view's burst (Chromium: ~100 native reports per document, the SDK: 100 events
// per page view) fits with room to spare; past a bound, the oldest records are made final, as the
// horizon does.
export const WIDE_UNITS = 64;
export const BUCKET_UNITS = 512;

const isWide = unitWide;
// A repeat is the same violation (every field the SDK knows) in the same page view, from the same
// client: another client naming a page id it saw (or guessed) gets a unit of its own, not a share
// of the browser's count.
const sdkKey = (v: NormalizedViolation, key = exactKey(v)) => `${v.page?.id ?? ''}\n${v.clientIp ?? ''}\n${key}`;
/** Occurrences one unit adds up to, at most: a page view in a tight loop for hours, not billions. */
export const MAX_UNIT_COUNT = 10_000_000;

export function newBucket(groupId: string, key?: string): Bucket {
  return { groupId, units: [], wide: 0, sdk: undefined, key };
}

function track(bucket: Bucket, u: Unit): void {
  bucket.units.push(u);
  if (isWide(u)) bucket.wide++;
  if (u.stream !== 'sdk') return;
  const key = sdkKey(u.v, unitKey(u));
  bucket.sdk ??= new Map();
  if (!bucket.sdk.has(key)) bucket.sdk.set(key, u);
}

/** Adds stored units (each with `rid` set, in creation order) to the bucket. */
export function loadUnits(bucket: Bucket, units: Unit[]): void {
  for (const u of units) track(bucket, u);
}

/**
 * Takes records' units out of matching: those records are final. The caller drops an empty bucket.
 * A bucket holding none of their units keeps its unit list as it is (no copy).
 */
export function freezeRecords(bucket: Bucket, ids: { has(id: string): boolean }): void {
  const units = bucket.units;
  const frozen = (u: Unit) => !!u.rid && ids.has(u.rid);
  let i = 0;
  while (i < units.length && !frozen(units[i]!)) i++;
  if (i === units.length) return;
  const kept = units.slice(0, i);
  for (; i < units.length; i++) {
    const u = units[i]!;
    if (!frozen(u)) {
      kept.push(u);
      continue;
    }
    if (isWide(u)) bucket.wide--;
    if (u.stream !== 'sdk' || !bucket.sdk) continue;
    const key = sdkKey(u.v, unitKey(u));
    if (bucket.sdk.get(key) === u) bucket.sdk.delete(key);
  }
  bucket.units = kept;
}

/** `freezeRecords` for one record (an eviction). */
export const freezeRecord = (bucket: Bucket, recordId: string): void => freezeRecords(bucket, { has: (id) => id === recordId });

/**
 * Adds one violation to its bucket, without matching (see `rematch`), and returns its unit (after
 * the matching, `unit.rid` is its record). An SDK repeat in the same page view adds to the unit it
 * already has (the SDK sends counts since its last batch): `repeat`, and that unit's record is to be
 * rebuilt however old it is.
 */
export function addUnit(bucket: Bucket, v: NormalizedViolation, policyHash: string | undefined, nextSeq: () => number): { unit: Unit; repeat: boolean } {
  const key = exactKey(v);
  const same = v.stream === 'sdk' ? bucket.sdk?.get(sdkKey(v, key)) : undefined;
  if (same) {
    same.count = Math.min(MAX_UNIT_COUNT, same.count + v.count);
    same.at = Math.min(same.at, v.occurredAt);
    same.lastReceivedAt = Math.max(same.lastReceivedAt, v.receivedAt);
    return { unit: same, repeat: true };
  }
  const unit: Unit = { seq: nextSeq(), stream: v.stream, at: v.occurredAt, count: Math.min(MAX_UNIT_COUNT, v.count), firstReceivedAt: v.receivedAt, lastReceivedAt: v.receivedAt, v, policyHash, key, wide: isWildcard(v) };
  track(bucket, unit);
  return { unit, repeat: false };
}

/** The oldest and newest unit time of each record in `units` (a unit's `rid` is its record). */
function recordSpans(units: Unit[]): Map<string, { min: number; max: number; units: Unit[] }> {
  const spans = new Map<string, { min: number; max: number; units: Unit[] }>();
  for (const u of units) {
    if (!u.rid) continue;
    const t = spans.get(u.rid);
    if (!t) spans.set(u.rid, { min: u.at, max: u.at, units: [u] });
    else {
      if (u.at < t.min) t.min = u.at;
      if (u.at > t.max) t.max = u.at;
      t.units.push(u);
    }
  }
  return spans;
}

/**
 * The records to make final before matching: those among the units being matched again that are
 * past the horizon of `newest` (the newest unit that just arrived), then the oldest of the bucket
 * while it is over a size bound. `keep`: records that must be rebuilt (a repeat was added to them).
 * Returns the ids, and how many were frozen for size.
 */
function toFreeze(bucket: Bucket, related: Unit[], keep: ReadonlySet<string | undefined>, newest: number): { ids: Set<string>; forSize: number } {
  const ids = new Set<string>();
  // The common case, decided without the spans: a record's newest unit is no older than any of
  // its units, so no related unit past the horizon means no related record past it; and then a
  // bucket within its bounds freezes nothing.
  if (bucket.units.length <= BUCKET_UNITS && bucket.wide <= WIDE_UNITS && related.every((u) => newest - u.at <= HORIZON_MS)) return { ids, forSize: 0 };
  const spans = recordSpans(bucket.units);
  for (const u of related) {
    const span = u.rid ? spans.get(u.rid) : undefined;
    if (span && !keep.has(u.rid) && newest - span.max > HORIZON_MS) ids.add(u.rid!);
  }
  let total = 0;
  let wide = 0;
  for (const u of bucket.units) {
    if (u.rid && ids.has(u.rid)) continue;
    total++;
    if (isWide(u)) wide++;
  }
  const over = () => total > BUCKET_UNITS || wide > WIDE_UNITS;
  let forSize = 0;
  if (!over()) return { ids, forSize };
  const oldest = [...spans].filter(([id]) => !ids.has(id) && !keep.has(id)).sort((a, b) => a[1].min - b[1].min);
  for (const [id, span] of oldest) {
    if (!over()) break;
    // Only a record that holds part of the excess is made final.
    if (total <= BUCKET_UNITS && !span.units.some(isWide)) continue;
    ids.add(id);
    forSize++;
    for (const u of span.units) {
      total--;
      if (isWide(u)) wide--;
    }
  }
  return { ids, forSize };
}

/**
 * Matches again the units that units added since the last matching may pair with: those with the
 * `keys` added (`exactKey`: units that differ there never pair), or the whole bucket while a unit
 * that pairs widely is in it. Returns the ids of the live records the matching replaced (`before`), the
 * records it made (`after`, same ids where the anchor unit is the same), and how many records
 * were made final to keep the bucket within its bounds; records frozen on the way are left as
 * they are.
 */
export function rematch(
  bucket: Bucket,
  keys: Set<string>,
  repeats: ReadonlySet<string | undefined>,
  newest: number,
  mergeWindowMs: number,
): { before: string[]; after: ViolationRecord[]; frozen: number } {
  // The common case: a new bucket's first unit, its own record (what the general path below gives).
  const only = bucket.units.length === 1 ? bucket.units[0]! : undefined;
  if (only && !only.rid) {
    const r = buildRecord([only], bucket.groupId);
    only.rid = r.id;
    return { before: [], after: [r], frozen: 0 };
  }
  const related = () => (bucket.wide ? bucket.units : bucket.units.filter((u) => keys.has(unitKey(u))));
  let units = related();
  const { ids: frozen, forSize } = toFreeze(bucket, units, repeats, newest);
  if (frozen.size) {
    freezeRecords(bucket, frozen);
    units = related();
  }
  const before = new Set<string>();
  for (const u of units) if (u.rid) before.add(u.rid);
  const after: ViolationRecord[] = [];
  for (const parts of matchUnits(units, mergeWindowMs)) {
    const r = buildRecord(parts, bucket.groupId);
    for (const p of parts) p.rid = r.id;
    after.push(r);
  }
  return { before: [...before], after, frozen: forSize };
}

/** One violation added and matched at once (the PostgreSQL store's step, per violation). */
export function addToBucket(
  bucket: Bucket,
  v: NormalizedViolation,
  policyHash: string | undefined,
  nextSeq: () => number,
  mergeWindowMs: number,
): { before: string[]; after: ViolationRecord[]; unit: Unit } {
  const { unit, repeat } = addUnit(bucket, v, policyHash, nextSeq);
  const { before, after } = rematch(bucket, new Set([unitKey(unit)]), new Set(repeat ? [unit.rid] : []), v.occurredAt, mergeWindowMs);
  return { before, after, unit };
}
