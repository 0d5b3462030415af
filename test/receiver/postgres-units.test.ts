import { setFlagsFromString } from 'node:v8';
import fc from 'fast-check';
import type { NormalizedViolation, ViolationRecord } from '@csp-lens/schema';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bucketKey } from '../../packages/receiver/src/core/merge.js';
import { type Bucket, addToBucket, newBucket } from '../../packages/receiver/src/core/bucket.js';
import { policyHash } from '../../packages/receiver/src/core/state.js';
import { type StoredUnit, loadedUnit, storedUnit } from '../../packages/receiver/src/store/postgres/units.js';
import { openPostgresStore } from '../../packages/receiver/src/store/postgres/index.js';
import { type TestPostgres, startTestPostgres } from '../helpers/postgres.js';
import { type V, messages, violation } from '../helpers/violations.js';

// store/postgres/units.ts: a unit is stored as what of its violation differs from its record.
// Every unit of a random stream of reports (all three streams, every engine's spelling, merged and
// not) is stored against its record as the merge left it, through JSON as PostgreSQL keeps both,
// and read back: the violation must come back field for field.

setFlagsFromString('--allow-natives-syntax');
const hasFastProperties = new Function('o', 'return %HasFastProperties(o)') as (o: object) => boolean;

const json = <T>(x: T): T => JSON.parse(JSON.stringify(x));
const withoutPolicy = ({ originalPolicy: _p, ...v }: NormalizedViolation) => v;

/** The merge's buckets and live records after the violations, in arrival order (as state.ts keeps them). */
function merged(vs: NormalizedViolation[]) {
  const buckets = new Map<string, Bucket>();
  const records = new Map<string, ViolationRecord>();
  let seq = 0;
  for (const v of vs) {
    const key = bucketKey(v);
    let b = buckets.get(key);
    if (!b) buckets.set(key, (b = newBucket('g1', key)));
    const { before, after } = addToBucket(b, v, v.originalPolicy ? policyHash(v.originalPolicy) : undefined, () => ++seq, 10_000);
    for (const id of before) records.delete(id);
    for (const r of after) records.set(r.id, r);
  }
  return { units: [...buckets.values()].flatMap((b) => b.units), records };
}

describe('a unit stored against its record', () => {
  it('reads back the violation it was stored with, merged or not', () => {
    fc.assert(
      fc.property(fc.array(violation, { minLength: 1, maxLength: 12 }), (drawn) => {
        const vs = drawn.flatMap(messages).sort((a, b) => a.at - b.at).flatMap((m) => m.batch.violations);
        const { units, records } = merged(vs);
        for (const u of units) {
          const record = records.get(u.rid!)!;
          expect(record).toBeDefined();
          const stored = json(storedUnit(u, record));
          expect(stored.v).toBeUndefined();
          // As PostgreSQL hands them over: the unit and its record parsed from one row.
          const row = json(record);
          const back = loadedUnit(stored, row);
          expect(back.v).toEqual(json(withoutPolicy(u.v)));
          const { rid: _rid, key: _key, wide: _wide, v: _v, ...head } = u;
          const { v: _back, ...backHead } = back;
          expect(backHead).toEqual(json(head));
          // Read back, and stored again against the same record (a later commit that rewrites the
          // record rewrites its units): the same row.
          expect(json(storedUnit({ ...back, rid: u.rid }, row))).toEqual(stored);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('keeps only what differs: a native report alone is its record', () => {
    const [m] = messages({ doc: 'https://s.test/a', directive: 'img-src', blocked: 'https://x.test/1.png', line: 0, disposition: 'enforce', ua: 'UA/1', page: 'pv1', t: 0, count: 1, sdk: false, uri: true, to: false, sdkDelay: 0, uriDelay: 10, toDelay: 0, skew: 0, engine: 'chromium' });
    const { units, records } = merged(m!.batch.violations);
    const stored = storedUnit(units[0]!, records.get(units[0]!.rid!)!);
    // Only what a record does not hold: the stream and the time of reception.
    expect(Object.keys(stored.d!).sort()).toEqual(['receivedAt', 'stream']);
    expect(stored.x).toBeUndefined();
    expect(JSON.stringify(stored).length).toBeLessThan(JSON.stringify(storedUnit(units[0]!, undefined)).length / 2);
  });

  it('names the fields its record has and its violation lacks: the native half of a merged record has no page', () => {
    const drawn: V = { doc: 'https://s.test/a', directive: 'img-src', blocked: 'https://x.test/1.png', line: 0, disposition: 'enforce', ua: 'UA/1', page: 'pv1', t: 0, count: 1, sdk: true, uri: true, to: false, sdkDelay: 5, uriDelay: 10, toDelay: 0, skew: 0, engine: 'chromium' };
    const { units, records } = merged(messages(drawn).flatMap((m) => m.batch.violations));
    expect(records.size).toBe(1);
    const record = [...records.values()][0]!;
    const native = units.find((u) => u.stream === 'reportUri')!;
    const stored = storedUnit(native, record);
    expect(stored.x).toContain('page');
    expect(loadedUnit(json(stored), json(record)).v.page).toBeUndefined();
  });

  it('is stored whole without its record, and whole units (schema 9 and before) are read as they are', () => {
    const [m] = messages({ doc: 'https://s.test/b?q=1', directive: 'script-src-elem', blocked: 'inline', line: 7, disposition: 'report', ua: 'UA/2', page: 'pv2', t: 5, count: 2, sdk: true, uri: false, to: false, sdkDelay: 0, uriDelay: 0, toDelay: 0, skew: 0, engine: 'firefox' });
    const { units } = merged(m!.batch.violations);
    const whole = json(storedUnit(units[0]!, null));
    expect(whole.v).toEqual(json(withoutPolicy(units[0]!.v)));
    expect(whole.d).toBeUndefined();
    expect(loadedUnit(whole, null).v).toEqual(whole.v);
    // A unit stored against a record that is gone cannot be read: an error naming it, not a guess.
    const against: StoredUnit = json(storedUnit(units[0]!, { ...units[0]!.v, id: 'r1', groupId: 'g1' } as unknown as ViolationRecord));
    expect(() => loadedUnit(against, null)).toThrow(/unit \d+ is stored against its record/);
  });

  it('builds violations V8 keeps as fast objects', () => {
    const [m] = messages({ doc: 'https://s.test/a', directive: 'img-src', blocked: 'https://x.test/2.png', line: 9, disposition: 'enforce', ua: 'UA/1', page: 'pv3', t: 0, count: 1, sdk: true, uri: false, to: false, sdkDelay: 0, uriDelay: 0, toDelay: 0, skew: 0, engine: 'chromium' });
    const { units, records } = merged(m!.batch.violations);
    const v = loadedUnit(json(storedUnit(units[0]!, records.get(units[0]!.rid!)!)), json(records.get(units[0]!.rid!)!)).v;
    expect(Object.keys(v).length).toBeGreaterThan(15);
    // Built by keyed stores, one per field (fast-objects.test.ts says why that matters).
    expect(hasFastProperties(v)).toBe(true);
  });
});

describe('the units table', () => {
  let server: TestPostgres;
  beforeAll(async () => void (server = await startTestPostgres()), 120_000);
  afterAll(() => server?.stop());

  it('holds each unit against its record, and rewrites a unit whose record another unit changed', async () => {
    const url = await server.createDatabase();
    const drawn: V = { doc: 'https://s.test/a', directive: 'img-src', blocked: 'https://x.test/1.png', line: 9, disposition: 'enforce', ua: 'UA/1', page: 'pv1', t: 0, count: 2, sdk: true, uri: true, to: false, sdkDelay: 5, uriDelay: 10, toDelay: 0, skew: 0, engine: 'chromium' };
    const [sdk, native] = messages(drawn).sort((a, b) => (a.stream === 'sdk' ? -1 : 1) - (b.stream === 'sdk' ? -1 : 1));
    const rows = () =>
      server.query<{ seq: string; xmin: string; unit: StoredUnit; record: ViolationRecord }>(url, 'SELECT u.seq, u.xmin::text, u.unit, r.record FROM csp_lens_units u JOIN csp_lens_records r ON r.seq = u.rid ORDER BY u.seq');
    let store = await openPostgresStore({ connectionString: url });
    try {
      await store.append(sdk!.batch);
      const [alone] = await rows();
      expect(alone!.unit.v).toBeUndefined();
      expect(loadedUnit(alone!.unit, alone!.record).v).toEqual(json(withoutPolicy(sdk!.batch.violations[0]!)));
      // The native report joins the SDK event's record: the record changes, the SDK unit does not,
      // and its row is written again against the merged record.
      await store.close();
      store = await openPostgresStore({ connectionString: url });
      await store.append(native!.batch);
      const both = await rows();
      expect(both).toHaveLength(2);
      expect(new Set(both.map((r) => r.record.id)).size).toBe(1);
      expect(both[0]!.record.sources).toMatchObject({ sdk: 2, reportUri: 1 });
      expect(both.map((r) => r.unit.v)).toEqual([undefined, undefined]);
      // Rewritten by the native report's transaction (the row's xmin), though equal in content here.
      expect(both[0]!.xmin).toBe(both[1]!.xmin);
      expect(both[0]!.xmin).not.toBe(alone!.xmin);
      expect(both.map((r) => loadedUnit(r.unit, r.record).v)).toEqual([sdk!, native!].map((m) => json(withoutPolicy(m.batch.violations[0]!))));
      expect(both[1]!.unit.x).toEqual(expect.arrayContaining(['page']));
    } finally {
      await store.close();
    }
  });
});
