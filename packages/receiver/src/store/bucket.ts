import type { NormalizedViolation, ViolationRecord } from '@csp-lens/schema';
import { type Unit, buildRecord, isCutToOrigin, matchUnits } from '../merge.js';

/**
 * The live units of one bucket (DESIGN §4) and the records they make. Shared by the file store's
 * in-memory state and the PostgreSQL store, which loads a bucket's units under a lock, applies the
 * same step and writes the result back.
 */
export interface Bucket {
  groupId: string;
  units: Unit[];
  /** Units whose blocked URL was cut to its origin. */
  cut: number;
}

// Units this far behind the newest of their bucket are frozen: their records are final. It bounds
// the work per report and the memory for a busy page; report-to's lateness does not count here
// because its time is already corrected by `age`.
const HORIZON_MS = 10 * 60_000;
const BUCKET_UNITS = 64;

const isCut = (u: Unit) => !!u.v.blockedURL && isCutToOrigin(u.v.blockedURL);

export function newBucket(groupId: string): Bucket {
  return { groupId, units: [], cut: 0 };
}

/** Adds stored units (each with `rid` set, in creation order) to the bucket. */
export function loadUnits(bucket: Bucket, units: Unit[]): void {
  for (const u of units) {
    bucket.units.push(u);
    if (isCut(u)) bucket.cut++;
  }
}

/** Takes a record's units out of matching: the record is final. The caller drops an empty bucket. */
export function freezeRecord(bucket: Bucket, recordId: string): void {
  const kept: Unit[] = [];
  for (const u of bucket.units) {
    if (u.rid !== recordId) kept.push(u);
    else if (isCut(u)) bucket.cut--;
  }
  bucket.units = kept;
}

/** The oldest and newest unit time of each live record in `units` (a unit's `rid` is its record). */
function recordTimes(units: Unit[]): Map<string, { min: number; max: number }> {
  const times = new Map<string, { min: number; max: number }>();
  for (const u of units) {
    if (!u.rid) continue;
    const t = times.get(u.rid);
    if (!t) times.set(u.rid, { min: u.at, max: u.at });
    else {
      if (u.at < t.min) t.min = u.at;
      if (u.at > t.max) t.max = u.at;
    }
  }
  return times;
}

/**
 * Adds one violation to its bucket and matches again what it may pair with. Returns the ids of the
 * live records the matching replaced (`before`) and the records it made (`after`, same ids where
 * the anchor unit is the same); records frozen on the way are left as they are.
 */
export function addToBucket(
  bucket: Bucket,
  v: NormalizedViolation,
  policyHash: string | undefined,
  nextSeq: () => number,
  mergeWindowMs: number,
): { before: string[]; after: ViolationRecord[] } {
  const same: Unit | undefined =
    v.stream !== 'sdk' ? undefined : bucket.units.find((u) => u.stream === 'sdk' && u.v.page?.id === v.page?.id && u.v.blockedURL === v.blockedURL);
  if (same) {
    // A repeat in the same page view: the SDK sends counts since its last batch.
    same.count += v.count;
    same.at = Math.min(same.at, v.occurredAt);
    same.lastReceivedAt = Math.max(same.lastReceivedAt, v.receivedAt);
  } else {
    const unit: Unit = { seq: nextSeq(), stream: v.stream, at: v.occurredAt, count: v.count, firstReceivedAt: v.receivedAt, lastReceivedAt: v.receivedAt, v, policyHash };
    bucket.units.push(unit);
    if (isCut(unit)) bucket.cut++;
  }
  // Units with different full URLs never pair, so only the new unit's URL needs matching again,
  // unless a URL cut to its origin (which pairs with any URL of that origin) is in the bucket.
  const related = () => (bucket.cut ? bucket.units : bucket.units.filter((u) => u.v.blockedURL === v.blockedURL));
  let units = related();
  let newest = -Infinity;
  const ids = new Set<string>();
  for (const u of units) {
    newest = Math.max(newest, u.at);
    if (u.rid) ids.add(u.rid);
  }
  let froze = false;
  const times = ids.size ? recordTimes(bucket.units) : undefined;
  // The record a repeat just added to stays live, however old: freezing it would lose the repeat.
  for (const id of [...ids]) {
    if (id === same?.rid || !(newest - times!.get(id)!.max > HORIZON_MS)) continue;
    freezeRecord(bucket, id);
    ids.delete(id);
    froze = true;
  }
  while (units.length > BUCKET_UNITS) {
    const candidates = [...ids].filter((id) => id !== same?.rid);
    if (!candidates.length) break;
    const oldest = candidates.reduce((a, b) => (times!.get(b)!.min < times!.get(a)!.min ? b : a));
    freezeRecord(bucket, oldest);
    ids.delete(oldest);
    froze = true;
    units = related();
  }
  // Freezing took units out of the bucket (with a cut URL in it, out of `units` itself).
  if (froze) units = related();
  const groups = matchUnits(units, mergeWindowMs);
  const after: ViolationRecord[] = [];
  for (const parts of groups) {
    const r = buildRecord(parts, bucket.groupId);
    for (const p of parts) p.rid = r.id;
    after.push(r);
  }
  return { before: [...ids], after };
}
