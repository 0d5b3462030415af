import type { NormalizedViolation, ViolationRecord } from '@csp-lens/schema';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { normalizeNative } from '../../packages/receiver/src/core/normalize.js';
import { openPostgresStore } from '../../packages/receiver/src/store/postgres/index.js';
import type { IngestBatch } from '../../packages/receiver/src/core/types.js';
import { MAX_UNIT_COUNT } from '../../packages/receiver/src/core/bucket.js';
import { type TestServer, startTestServer } from '../helpers/server.js';
import { reportUriBody } from '../helpers/bodies.js';
import { type TestPostgres, startTestPostgres } from '../helpers/postgres.js';

// One report PostgreSQL cannot take must cost only its own append, never the honest reports that
// happen to share its transaction (report-uri and beacons are never retried: a 503 loses them).

let server: TestPostgres;
beforeAll(async () => void (server = await startTestPostgres()), 120_000);
afterAll(() => server?.stop());

const T = 1_800_000_000_000;
const honest = (i: number): IngestBatch => normalizeNative(JSON.parse(reportUriBody(`honest${i}`).body), { receivedAt: T + i });
/** A batch edited after the normalizers, which clean text now: what the store itself must survive. */
const raw = (i: number, edit: Partial<NormalizedViolation>): IngestBatch => {
  const b = honest(i);
  return { ...b, violations: b.violations.map((v) => ({ ...v, ...edit })) };
};

describe('a poison report on PostgreSQL', () => {
  it('rejects only its own append when it shares a commit with honest ones, which are stored', async () => {
    const url = await server.createDatabase();
    const commits: number[] = [];
    const store = await openPostgresStore({ connectionString: url, onCommit: ({ appends }) => commits.push(appends) });
    try {
      const poison = [raw(100, { sample: 'x\ud800' }), raw(101, { page: { id: 'pv', url: 'https://a.example/', context: { 'k\u0000': 'v' } } })];
      // The first append goes alone; the rest queue meanwhile and share the next transaction.
      const batches = [honest(0), ...Array.from({ length: 30 }, (_, i) => (i === 7 ? poison[0] : i === 21 ? poison[1] : honest(i + 1)))];
      const results = await Promise.allSettled(batches.map((b) => store.append(b)));
      expect(results.map((r) => r.status)).toEqual(batches.map((b) => (poison.includes(b) ? 'rejected' : 'fulfilled')));
      const { items } = await store.violations({ limit: 500 });
      expect(items.map((r) => r.documentURL).sort()).toEqual(batches.filter((b) => !poison.includes(b)).map((b) => b.violations[0].documentURL).sort());
      expect((await store.groups({ limit: 10 })).items[0]).toMatchObject({ records: 29, count: 29 });
      // Appends that failed left nothing behind: the next ones go on as usual.
      await store.append(honest(200));
      expect((await store.stats({})).records).toBe(30);
    } finally {
      await store.close();
    }
  });

  it('holds a record at its count bound, and stores groups whose counts add up past 2^31', async () => {
    const url = await server.createDatabase();
    const store = await openPostgresStore({ connectionString: url });
    try {
      // SDK repeats in one page view add up on one record, to at most MAX_UNIT_COUNT…
      const repeat = raw(1, { stream: 'sdk', count: 2 ** 31 - 1, page: { id: 'pv_big', url: 'https://shop.example/' } });
      for (let i = 0; i < 3; i++) await store.append(structuredClone(repeat));
      expect((await store.violations({ limit: 10 })).items.map((r) => r.sources.sdk)).toEqual([MAX_UNIT_COUNT]);
      // …and a group adds up its records: 215 page views at the bound pass 2^31.
      const views = raw(2, { stream: 'sdk', count: MAX_UNIT_COUNT });
      const many: IngestBatch = { ...views, violations: Array.from({ length: 214 }, (_, i) => ({ ...views.violations[0], page: { id: `pv_${i}`, url: 'https://shop.example/' } })) };
      await store.append(many);
      const [group] = (await store.groups({ limit: 10 })).items;
      expect(group.count).toBe(215 * MAX_UNIT_COUNT);
      expect(group.count).toBeGreaterThan(2 ** 31);
      expect((await store.stats({})).coverage.sdkOnly).toBe(215);
    } finally {
      await store.close();
    }
  });
});

describe('hostile text over HTTP on PostgreSQL', () => {
  let receiver: TestServer;
  let url: string;
  beforeAll(async () => {
    url = await server.createDatabase();
    receiver = await startTestServer({ store: 'postgres', databaseUrl: url });
  });
  afterAll(() => receiver?.close());

  it('acknowledges and stores honest reports sent together with poisoned ones, and the poisoned ones cleaned', async () => {
    const ugly = 'x\ud800\u0000\u0001\u007f\udc00';
    const poisonSdk = (i: number) =>
      JSON.stringify({
        v: 1,
        page: { id: `pv${i}${ugly}`, url: `https://shop.example/poison${i}`, context: { [`k${ugly}`]: { [ugly]: [ugly] } }, tags: { [ugly]: ugly } },
        events: [{ documentURI: `https://shop.example/poison${i}`, blockedURI: `https://evil.example/${ugly}`, effectiveDirective: 'script-src-elem', sample: ugly, count: '99999999999' }],
      });
    const requests = Array.from({ length: 60 }, (_, i) =>
      i % 6 === 3
        ? receiver.post('/sdk', poisonSdk(i), 'text/plain')
        : receiver.post('/report', reportUriBody(`http${i}`, i % 6 === 5 ? { 'script-sample': ugly } : {}).body, 'application/csp-report'),
    );
    const statuses = await Promise.all(requests.map(async (r) => (await r).status));
    expect(statuses).toEqual(statuses.map(() => 204));
    const records: ViolationRecord[] = await receiver.all();
    expect(records).toHaveLength(60);
    const poisoned = records.filter((r) => r.documentURL.includes('poison'));
    expect(poisoned).toHaveLength(10);
    for (const r of poisoned) {
      expect(r.sample).toBe('x\ufffd\ufffd\ufffd\ufffd');
      expect(r.count).toBe(1_000_000);
      expect(r.page!.context).toEqual({ 'kx\ufffd\ufffd\ufffd\ufffd': { 'x\ufffd\ufffd\ufffd\ufffd': ['x\ufffd\ufffd\ufffd\ufffd'] } });
    }
    expect((await fetch(`${receiver.url}/health`)).status).toBe(200);
  });
});
