import { describe, expect, it } from 'vitest';
import type { NormalizedViolation } from '@csp-lens/schema';
import { addToBucket, freezeRecord, freezeRecords, newBucket } from '../../packages/receiver/src/core/bucket.js';

// Freezing takes a record's units out of its bucket (eviction, the horizon, the size bounds): the
// units of other records stay, in their order, and the bucket's counts of wide units and its SDK
// repeat index follow.

const T0 = 1_800_000_000_000;

function violation(i: number, stream: NormalizedViolation['stream'], blockedURL: string): NormalizedViolation {
  const v: NormalizedViolation = {
    documentURL: 'https://a.example/',
    blockedURL,
    effectiveDirective: 'img-src',
    violatedDirective: 'img-src',
    disposition: 'enforce',
    stream,
    occurredAt: T0 + i * 60_000,
    receivedAt: T0 + i * 60_000,
    count: 1,
    clientIp: '203.0.113.0',
    category: 'external',
    severity: 'medium',
  };
  if (stream === 'sdk') v.page = { id: `pv${i}`, url: 'https://a.example/' };
  return v;
}

/** A bucket of five records: SDK units and native ones, one cut to its origin (wide). */
function filled() {
  const bucket = newBucket('g1');
  let seq = 0;
  const kinds: [NormalizedViolation['stream'], string][] = [
    ['sdk', 'https://cdn.example/a.png'],
    ['reportUri', 'https://cdn.example/b.png'],
    ['reportUri', 'https://cdn.example'],
    ['sdk', 'https://cdn.example/c.png'],
    ['reportUri', 'https://cdn.example/d.png'],
  ];
  // Minutes apart, past the merge window: each unit is a record of its own.
  kinds.forEach(([stream, url], i) => addToBucket(bucket, violation(i, stream, url), undefined, () => ++seq, 10_000));
  return bucket;
}

describe('freezing records in a bucket', () => {
  it('takes out the units of the records named, wherever they stand, and keeps the rest in order', () => {
    const bucket = filled();
    const rids = bucket.units.map((u) => u.rid!);
    expect(new Set(rids).size).toBe(5);
    expect(bucket.wide).toBe(1);
    expect(bucket.sdk?.size).toBe(2);
    freezeRecords(bucket, new Set([rids[2]!, rids[3]!]));
    expect(bucket.units.map((u) => u.rid)).toEqual([rids[0], rids[1], rids[4]]);
    expect(bucket.wide).toBe(0);
    expect(bucket.sdk?.size).toBe(1);
    freezeRecord(bucket, rids[4]!);
    expect(bucket.units.map((u) => u.rid)).toEqual([rids[0], rids[1]]);
    freezeRecord(bucket, rids[0]!);
    expect(bucket.units.map((u) => u.rid)).toEqual([rids[1]]);
    expect(bucket.sdk?.size).toBe(0);
  });

  it('leaves the unit list as it is when none of its units is the record’s', () => {
    const bucket = filled();
    const units = bucket.units;
    freezeRecord(bucket, 'r-elsewhere');
    freezeRecords(bucket, new Set());
    expect(bucket.units).toBe(units);
    expect(bucket.units).toHaveLength(5);
    expect(bucket.wide).toBe(1);
  });
});
