import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import type { SdkBatch, ViolationRecord } from '@csp-lens/schema';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { normalizeNative, normalizeSdk } from '../../packages/receiver/src/core/normalize.js';
import { openFileStore } from '../../packages/receiver/src/store/file/index.js';
import { openPostgresStore } from '../../packages/receiver/src/store/postgres/index.js';
import type { EraseFilter, EraseResult, GroupQuery, IngestBatch, RecordFilter, Store, ViolationQuery } from '../../packages/receiver/src/core/types.js';
import { groupIdFor } from '../../packages/receiver/src/core/group.js';
import { fixture, fixtureNames } from '../helpers/bodies.js';
import { tempDir } from '../helpers/server.js';
import { type TestPostgres, startTestPostgres } from '../helpers/postgres.js';
import { messages, snapshot, violation } from '../helpers/store-snapshot.js';
import { T0 as STREAMS_T0 } from '../helpers/violations.js';
import { MAX_UNIT_COUNT } from '../../packages/receiver/src/core/bucket.js';

// The same appends go to the file store and the PostgreSQL store; everything the read API can ask
// must come back the same, ids included.

const UA = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/156.0.0.0 Safari/537.36';
const T0 = 1_795_302_980_000;
type Options = { maxRecords?: number; mergeWindowMs?: number; groupCapPerMinute?: number };
type Step = IngestBatch | { batch: IngestBatch; filtered: Record<string, number> } | { erase: EraseFilter } | 'restart';

let server: TestPostgres;
beforeAll(async () => void (server = await startTestPostgres()), 120_000);
afterAll(() => server?.stop());

interface Opened {
  open(): Promise<Store>;
  archived(): Promise<ViolationRecord[]>;
  remove(): Promise<void>;
}

const STORES: Record<'file' | 'postgres', (o: Options) => Promise<Opened>> = {
  async file(o) {
    const { dir, remove } = await tempDir();
    const path = join(dir, 'db.json');
    const lines = () => readFile(join(dir, 'db.archive.jsonl'), 'utf8').catch(() => '');
    return {
      open: () => openFileStore({ path, ...o }),
      archived: async () => (await lines()).split('\n').filter(Boolean).map((l) => JSON.parse(l)),
      remove,
    };
  },
  async postgres(o) {
    const url = await server.createDatabase();
    return {
      open: () => openPostgresStore({ connectionString: url, ...o }),
      archived: async () => (await server.query<{ record: ViolationRecord }>(url, 'SELECT record FROM csp_lens_archive ORDER BY archive_id')).map((r) => r.record),
      remove: async () => {},
    };
  },
};

/** Runs the steps on both stores (awaiting each append) and returns what each one reads back. */
async function both(steps: Step[], o: Options = {}, together = false) {
  const out = {} as Record<'file' | 'postgres', Awaited<ReturnType<typeof snapshot>> & { archived: ViolationRecord[]; erased: EraseResult[] }>;
  for (const kind of ['file', 'postgres'] as const) {
    const opened = await STORES[kind](o);
    let store = await opened.open();
    const erased: EraseResult[] = [];
    try {
      // Not awaited one by one: the PostgreSQL store then commits several appends per transaction.
      if (together) await Promise.all(steps.map((s) => store.append(s as IngestBatch)));
      for (const step of together ? [] : steps) {
        if (step === 'restart') await store.close(), (store = await opened.open());
        else if ('erase' in step) erased.push(await store.erase(step.erase));
        else if ('batch' in step) await store.append(step.batch, step.filtered);
        else await store.append(step);
      }
      const read = { ...(await snapshot(store)), ...(await deepReads(store)) };
      // The file store appends evictions to its archive at checkpoints (the journal holds them
      // until then): compare archives once both stores are closed.
      await store.close();
      out[kind] = { ...read, archived: await opened.archived(), erased };
    } finally {
      await store.close();
      await opened.remove();
    }
  }
  // What each store pruned to stay bounded is its own housekeeping (each store's tests check it).
  for (const read of Object.values(out)) for (const stats of [read.stats, read.window, ...(read.filteredStats as object[])]) delete (stats as { limits?: unknown }).limits;
  expect(out.postgres).toEqual(out.file);
  return out.file;
}

const HOUR = 3_600_000;

/**
 * What snapshot() leaves out: every group filter under every sort, pages of a few under filters,
 * and stats over windows that start and end on, just before and just after the hours of the
 * records (the PostgreSQL store counts whole hours from its tally and the ends from the records).
 */
async function deepReads(store: Store) {
  const all = await store.stats({});
  const hours = all.hours.map((h) => h.hour);
  const first = hours[0] ?? T0;
  const last = (hours[hours.length - 1] ?? T0) + HOUR;
  const directive = Object.keys(all.coverage.byDirective).sort()[0];
  const group = (await store.groups({ sort: 'count', limit: 1 })).items[0]?.id;
  const document = (await store.violations({ limit: 1 })).items[0]?.documentURL;
  const pages = async <P extends { next?: string }>(read: (cursor?: string) => Promise<P>) => {
    const out: P[] = [];
    for (let cursor: string | undefined, page: P; ; cursor = page.next) {
      out.push((page = await read(cursor)));
      if (!page.next) return out;
    }
  };

  const edges = [first, last, ...hours.slice(1)].flatMap((h) => [h - 1, h, h + 1]);
  const windows: RecordFilter[] = [
    ...edges.flatMap((t) => [{ since: t }, { until: t }]),
    { since: first - 2 * HOUR, until: last + 2 * HOUR },
    { since: first + 1, until: last - 1 },
    { since: first + HOUR / 2, until: first + HOUR + 1 },
  ];
  const stats = await Promise.all(
    [
      ...windows,
      { directive, since: first },
      { coverage: 'merged', until: last },
      { source: 'reportTo', since: first - 2 * HOUR, until: last + 2 * HOUR },
      { severity: 'high', disposition: 'enforce', since: first + 1 },
      { coverage: 'native-only', source: 'reportUri', since: last - HOUR },
      { groupId: group, since: first },
      { document, until: last },
    ].map((q) => store.stats(q as RecordFilter).then(({ limits: _limits, ...rest }) => rest)),
  );

  const groupFilters: GroupQuery[] = [
    { directive },
    { severity: 'high' },
    { severity: 'medium', coverage: 'native-only' },
    { disposition: 'report' },
    { disposition: 'enforce', coverage: 'sdk-only' },
    { document, directive },
    ...edges.flatMap((t) => [{ since: t }, { until: t }]),
  ];
  const groups = [];
  for (const sort of ['lastSeen', 'count', 'reach', 'severity'] as const) {
    groups.push(await pages((cursor) => store.groups({ sort, limit: 2, cursor })));
    groups.push(await Promise.all(groupFilters.map((q) => store.groups({ ...q, sort, limit: 500 }))));
  }

  const recordFilters: ViolationQuery[] = [{ directive }, { coverage: 'native-only' }, { groupId: group }, { document }, { since: first + 1 }, { until: last - HOUR }];
  const violations = await Promise.all(recordFilters.map((q) => pages((cursor) => store.violations({ ...q, limit: 4, cursor }))));
  return JSON.parse(JSON.stringify({ deep: { stats, groups, violations } })) as Record<string, unknown>;
}

const sdk = (body: SdkBatch, receivedAt: number) => normalizeSdk(body, { receivedAt, userAgent: UA });
const reportUri = (body: unknown, receivedAt: number) => normalizeNative(body, { receivedAt, userAgent: UA });
const json = async (name: string) => JSON.parse(await fixture(name));

function sdkBody(ev: Record<string, any>, t: number, pageId = 'pv_1'): SdkBatch {
  const keys = ['documentURI', 'blockedURI', 'effectiveDirective', 'violatedDirective', 'disposition', 'statusCode', 'sourceFile', 'lineNumber', 'columnNumber', 'sample', 'referrer'];
  const event = Object.fromEntries(keys.map((k) => [k, ev[k]])) as SdkBatch['events'][number];
  return { v: 1, sentAt: t + 1000, page: { id: pageId, url: `${ev.documentURI}#x`, policies: [ev.originalPolicy] }, events: [{ ...event, t, count: 1, policy: 0 }] };
}

// Retention, the group cap and the window all change what a later report can join.
const SETTINGS: Options[] = [{}, { maxRecords: 4 }, { groupCapPerMinute: 2 }, { maxRecords: 6, mergeWindowMs: 2_000 }];

describe('the store contract (file and PostgreSQL)', () => {
  it('merges every Chromium fixture with its report-uri report, in either arrival order', async () => {
    const steps: Step[] = [];
    const types = (await fixtureNames('enforce', 'event-')).map((f) => f.slice(6, -5));
    for (const [i, type] of types.entries()) {
      const ev = await json(`enforce/event-${type}.json`);
      const native = await json(`enforce/report-uri-${type}.json`);
      // The second order an hour later: the same violations, never within the window of the first.
      const a = T0 + i * 20_000;
      const b = a + 3_600_000;
      steps.push(sdk(sdkBody(ev, a), a + 1000), reportUri(native, a + 50));
      steps.push(reportUri(native, b + 50), sdk(sdkBody(ev, b, 'pv_2'), b + 1000));
    }
    const read = await both(steps);
    expect(read.pages.flatMap((p) => p.items)).toHaveLength(types.length * 2);
    for (const r of read.pages.flatMap((p) => p.items)) expect(r.sources).toEqual({ sdk: 1, reportUri: 1, reportTo: 0 });
    expect(read.stats.coverage).toMatchObject({ merged: types.length * 2, sdkOnly: 0, nativeOnly: 0 });
  });

  it('stores the same records, groups and stats for random streams in any arrival order', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(violation, { minLength: 1, maxLength: 20 }), fc.integer(), fc.constantFrom(...SETTINGS), async (vs, seed, o) => {
        const msgs = vs.flatMap(messages);
        const inTime = [...msgs].sort((a, b) => a.at - b.at).map((m) => m.batch);
        const shuffled = fc.sample(fc.shuffledSubarray(inTime, { minLength: inTime.length, maxLength: inTime.length }), { seed, numRuns: 1 })[0];
        await both(inTime, o);
        await both(shuffled, o);
      }),
      { numRuns: 25 },
    );
  }, 180_000);

  it('stores the same when appends arrive together and share transactions', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(violation, { minLength: 1, maxLength: 30 }), async (vs) => {
        await both(vs.flatMap(messages).map((m) => m.batch), { groupCapPerMinute: 3 }, true);
      }),
      { numRuns: 15 },
    );
  }, 180_000);

  it('sends new groups past the per-minute cap to the overflow group', async () => {
    const tpl = (await json('enforce/report-uri-img.json'))['csp-report'];
    const steps = Array.from({ length: 10 }, (_, i) => reportUri({ 'csp-report': { ...tpl, 'blocked-uri': `https://h${i}.example/x.png` } }, T0));
    const read = await both(steps, { groupCapPerMinute: 3 });
    expect(read.groups.severity.items).toHaveLength(4);
    expect(read.groups.severity.items.find((g) => g.overflow)).toMatchObject({ id: 'g_overflow', records: 7, count: 7 });
  });

  it('moves records past maxRecords to the archive, oldest first, and keeps counting them', async () => {
    const tpl = (await json('enforce/report-uri-img.json'))['csp-report'];
    const ev = await json('enforce/event-img.json');
    const doc = (i: number) => `https://shop.example/p?${i}`;
    const steps: Step[] = Array.from({ length: 12 }, (_, i) => reportUri({ 'csp-report': { ...tpl, 'document-uri': doc(i) } }, T0 + i));
    // The SDK event of an archived record cannot join it any more; it becomes its own record.
    steps.push(sdk(sdkBody({ ...ev, documentURI: doc(0) }, T0), T0 + 1000));
    const read = await both(steps, { maxRecords: 5 });
    expect(read.pages.flatMap((p) => p.items)).toHaveLength(5);
    expect(read.archived.map((r) => r.documentURL)).toEqual([0, 1, 2, 3, 4, 5, 6, 7].map(doc));
    expect(read.stats).toMatchObject({ records: 5, archived: 8 });
    expect(read.groups.count.items[0]).toMatchObject({ records: 13, count: 13 });
  });

  it('counts the same over several hours while records merge, move to the archive and the tally folds', async () => {
    // Hundreds of transactions: PostgreSQL's tally folds its deltas every 64 changes (migration 4).
    const vs = fc.sample(violation, { seed: 17, numRuns: 120 }).map((v, i) => ({ ...v, t: v.t + (i % 5) * HOUR + (i % 3) * 1_234 }));
    const steps = vs.flatMap(messages).sort((a, b) => a.at - b.at).map((m) => m.batch);
    const read = await both(steps, { maxRecords: 40 });
    expect(read.stats.records).toBe(40);
    expect(read.stats.archived).toBeGreaterThan(0);
    expect(read.stats.hours.length).toBeGreaterThan(1);
  }, 120_000);

  it('counts filtered, invalid and non-CSP reports and the SDK drops', async () => {
    const batch = reportUri(await json('enforce/report-uri-eval.json'), T0);
    const read = await both([
      { batch: { ...batch, invalid: 2, sdkDropped: 3, otherReports: { deprecation: 4 } }, filtered: { extension: 5 } },
      { batch: { violations: [], otherReports: { deprecation: 1, intervention: 1 }, invalid: 1 }, filtered: { extension: 1, 'about-blank': 2 } },
    ]);
    expect(read.stats).toMatchObject({ filtered: { extension: 6, 'about-blank': 2 }, otherReports: { deprecation: 5, intervention: 1 }, invalid: 3, sdkDropped: 3 });
  });

  it('keeps at most 100 named non-CSP report types, however many distinct ones arrive; the rest count as other-types', async () => {
    // Each batch may name 20 (normalize.ts caps them); the names are the sender's to choose.
    const steps = Array.from({ length: 12 }, (_, b): IngestBatch => ({
      violations: [],
      otherReports: Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`t${b}-${i}`, 1])),
      invalid: 0,
    }));
    steps.push({ violations: [], otherReports: { 't0-0': 5, 'late-new-type': 1 }, invalid: 0 });
    const { otherReports } = (await both(steps)).stats;
    expect(Object.keys(otherReports)).toHaveLength(101);
    expect(otherReports['t0-0']).toBe(6); // a type already named keeps counting under its name
    expect(otherReports['late-new-type']).toBeUndefined();
    expect(otherReports['other-types']).toBe(12 * 20 - 100 + 1);
    expect(Object.values(otherReports).reduce((a, b) => a + b, 0)).toBe(12 * 20 + 6);
  });

  it('stores hostile text and counts past 2^31 the same, and acknowledges every append sharing a commit with them', async () => {
    const tpl = (await json('enforce/report-uri-img.json'))['csp-report'];
    const ev = await json('enforce/event-img.json');
    const ugly = 'a\ud800b\u0000c\u0001d\u007fe\udc00f\tg\u{1F600}';
    const clean = 'a\ufffdbc\ufffdd\ufffde\ufffdf\tg\u{1F600}';
    const doc = (i: number | string) => `https://shop.example/h?${i}`;
    const steps: Step[] = Array.from({ length: 6 }, (_, i) => reportUri({ 'csp-report': { ...tpl, 'document-uri': doc(i) } }, T0 + i));
    steps.splice(2, 0, reportUri({ 'csp-report': { ...tpl, 'document-uri': doc(ugly), 'script-sample': ugly, referrer: ugly, 'original-policy': `img-src ${ugly}` } }, T0 + 10));
    const body = sdkBody({ ...ev, documentURI: doc(0), sample: ugly }, T0);
    steps.splice(4, 0, sdk({ ...body, page: { ...body.page, release: ugly, tags: { [ugly]: ugly }, context: { [ugly]: { [ugly]: [ugly, 1, null] } } } }, T0 + 1000));
    // SDK repeats in one page view add up on one record, to at most 10^7 (bucket.ts MAX_UNIT_COUNT):
    // a count given past it is held at it, in both stores.
    const big = sdk(sdkBody({ ...ev, documentURI: doc(3) }, T0 + 3, 'pv_big'), T0 + 2000);
    big.violations[0].count = 2 ** 31 - 1;
    steps.push(big, structuredClone(big), structuredClone(big));
    const read = await both(steps, {}, true);
    const records = read.pages.flatMap((p) => p.items);
    expect(records).toHaveLength(8);
    expect(records.find((r) => r.documentURL === doc(clean))).toMatchObject({ sample: clean, referrer: clean });
    expect(records.find((r) => r.page?.release === clean)?.page).toMatchObject({ tags: { [clean]: clean }, context: { [clean]: { [clean]: [clean, 1, null] } } });
    expect(records.find((r) => r.documentURL === doc(3))).toMatchObject({ count: MAX_UNIT_COUNT, sources: { sdk: MAX_UNIT_COUNT, reportUri: 1, reportTo: 0 } });
  });

  it('erases the same records, live and archived, and leaves the same groups and totals', async () => {
    const erasure = fc.oneof(
      fc.constantFrom('https://s.test/a', 'https://s.test/b?q=1').map((document): EraseFilter => ({ document })),
      fc.integer({ min: 0, max: 20_000 }).map((t): EraseFilter => ({ before: STREAMS_T0 + t })),
      fc.constantFrom<EraseFilter>({ clients: ['192.0.2.9'] }, { document: 'https://s.test/a', clients: ['192.0.2.1'] }),
      fc.constant('group' as const),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(violation, { minLength: 1, maxLength: 16 }), fc.array(erasure, { minLength: 1, maxLength: 3 }), fc.constantFrom(...SETTINGS), fc.boolean(), async (vs, erasures, o, restart) => {
        const batches = vs.flatMap(messages).sort((a, b) => a.at - b.at).map((m) => m.batch);
        // One client: past maxRecords the file store lets go of the oldest record of the client
        // holding the most (its fair share), PostgreSQL of the oldest.
        for (const b of batches) for (const v of b.violations) v.clientIp = '192.0.2.1';
        const first = batches.find((b) => b.violations.length)?.violations[0];
        const steps: Step[] = [...batches];
        for (const e of erasures) {
          steps.push({ erase: e === 'group' ? { groupId: first ? groupIdFor(first) : 'g_none' } : e });
          if (restart) steps.push('restart');
        }
        const read = await both(steps, o);
        // Nothing an erasure selected is left anywhere.
        for (const e of erasures) {
          if (e === 'group') continue;
          const left = [...read.pages.flatMap((p) => p.items), ...read.archived];
          expect(left.filter((r) => (!e.document || r.documentURL === e.document) && (!e.before || r.occurredAt < e.before) && (!e.clients || e.clients.includes(r.clientIp!)))).toEqual([]);
        }
      }),
      { numRuns: 20 },
    );
  }, 240_000);

  it('goes on merging after a restart', async () => {
    const ev = await json('enforce/event-img.json');
    const native = await json('enforce/report-uri-img.json');
    const read = await both([sdk(sdkBody(ev, T0), T0 + 1000), 'restart', reportUri(native, T0 + 50), sdk(sdkBody(ev, T0 + 2000), T0 + 3000)]);
    expect(read.pages.flatMap((p) => p.items).map((r) => r.sources)).toEqual([{ sdk: 2, reportUri: 1, reportTo: 0 }]);
  });
});
