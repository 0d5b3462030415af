import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { GroupBreakdown, SdkBatch, ViolationGroup } from '@csp-lens/schema';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { normalizeNative, normalizeSdk } from '../../packages/receiver/src/core/normalize.js';
import { groupIdFor } from '../../packages/receiver/src/core/group.js';
import { openFileStore } from '../../packages/receiver/src/store/file/index.js';
import { openPostgresStore } from '../../packages/receiver/src/store/postgres/index.js';
import type { EraseFilter, GroupQuery, IngestBatch, Store, StoredViolation } from '../../packages/receiver/src/core/types.js';
import type { CoreOptions } from '../../packages/receiver/src/core/options.js';
import type { TriageChange } from '../../packages/receiver/src/core/triage.js';
import { TOKEN, tempDir } from '../helpers/server.js';
import { type Child, cliSandbox, startCli } from '../helpers/cli.js';
import { reportUriBody } from '../helpers/bodies.js';
import { type TestPostgres, startTestPostgres } from '../helpers/postgres.js';

// Triage, the group filters, search and breakdowns: the same steps on the file store and on
// PostgreSQL must read back the same, restarts included.

const T0 = 1_800_000_000_000;
const UA = {
  chrome: 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36',
  firefox: 'Mozilla/5.0 (X11; Linux x86_64; rv:153.0) Gecko/20100101 Firefox/153.0',
};

let server: TestPostgres;
beforeAll(async () => void (server = await startTestPostgres()), 120_000);
afterAll(() => server?.stop());

type Kind = 'file' | 'postgres';
const KINDS: Kind[] = ['file', 'postgres'];

async function opener(kind: Kind, o: CoreOptions) {
  if (kind === 'postgres') {
    const url = await server.createDatabase();
    return { open: () => openPostgresStore({ connectionString: url, ...o }), remove: async () => {} };
  }
  const { dir, remove } = await tempDir();
  return { open: () => openFileStore({ path: join(dir, 'db.json'), ...o }), remove };
}

interface Img {
  blocked: string;
  doc?: string;
  at: number;
  release?: string;
  ua?: keyof typeof UA;
  /** report-uri instead of the SDK (no release). */
  native?: boolean;
  /** report-to's age: the violation happened this long before it arrived. */
  age?: number;
}

const POLICY = "img-src 'self'";

/** One img-src violation of `blocked`, from the SDK (with a page and release) or report-uri. */
function img(v: Img): IngestBatch {
  const doc = v.doc ?? 'https://shop.example/cart?id=7';
  const userAgent = UA[v.ua ?? 'chrome'];
  if (v.native) {
    const body = { 'csp-report': { 'document-uri': doc, 'violated-directive': 'img-src', 'effective-directive': 'img-src', 'blocked-uri': v.blocked, disposition: 'enforce', 'original-policy': POLICY } };
    const batch = normalizeNative(body, { receivedAt: v.at + (v.age ?? 0), userAgent });
    for (const x of batch.violations) x.occurredAt = v.at;
    return batch;
  }
  const body: SdkBatch = {
    v: 1,
    sentAt: v.at + 500,
    page: { id: `pv_${v.at}`, url: doc, policies: [POLICY], ...(v.release ? { release: v.release } : {}) },
    events: [{ t: v.at, count: 1, documentURI: doc, blockedURI: v.blocked, effectiveDirective: 'img-src', violatedDirective: 'img-src', policy: 0, disposition: 'enforce', statusCode: 200, sourceFile: '', lineNumber: 0, columnNumber: 0, sample: '', referrer: '' }],
  };
  return normalizeSdk(body, { receivedAt: v.at + 500, userAgent });
}

const gid = (blocked: string) => groupIdFor(img({ blocked, at: T0 }).violations[0]);

type Step =
  | { append: IngestBatch }
  | { state: [id: string, change: TriageChange] }
  | { erase: EraseFilter }
  | 'restart';

interface Read {
  stored: StoredViolation[][];
  states: (ViolationGroup | undefined)[];
  groups: Record<string, ViolationGroup[]>;
  details: Record<string, unknown>;
  breakdowns: Record<string, GroupBreakdown | undefined>;
  records: Record<string, string[]>;
}

const GROUP_QUERIES: Record<string, GroupQuery> = {
  default: {},
  all: { status: 'all' },
  open: { status: 'open' },
  resolved: { status: 'resolved' },
  ignored: { status: 'ignored' },
  regression: { status: 'regression' },
};

/**
 * Runs the steps on both stores and returns what each read back.
 * `ids`: groups whose detail and breakdown to read; `now`: when "ignore until" is read.
 */
interface Options {
  o?: CoreOptions;
  ids?: string[];
  now?: number;
  queries?: Record<string, GroupQuery>;
  searches?: Record<string, { document?: string; q?: string }>;
}

async function each(steps: Step[], { o = {}, ids = [], now = T0 + 3_600_000, queries = {}, searches = {} }: Options = {}): Promise<Record<Kind, Read>> {
  const out = {} as Record<Kind, Read>;
  for (const kind of KINDS) {
    const opened = await opener(kind, o);
    let store: Store = await opened.open();
    const read: Read = { stored: [], states: [], groups: {}, details: {}, breakdowns: {}, records: {} };
    try {
      for (const step of steps) {
        if (step === 'restart') await store.close(), (store = await opened.open());
        else if ('append' in step) read.stored.push(await store.append(structuredClone(step.append)));
        else if ('erase' in step) await store.erase(step.erase);
        else read.states.push(await store.setGroupState(...step.state));
      }
      for (const [name, q] of Object.entries({ ...GROUP_QUERIES, ...queries })) {
        read.groups[name] = (await store.groups({ limit: 500, sort: 'lastSeen', now, ...q })).items;
      }
      for (const id of ids) {
        read.details[id] = (await store.group(id)) ?? null;
        read.breakdowns[id] = await store.breakdown(id);
      }
      for (const [name, f] of Object.entries(searches)) read.records[name] = (await store.violations({ ...f, limit: 500 })).items.map((r) => r.documentURL);
    } finally {
      await store.close();
      await opened.remove();
    }
    out[kind] = JSON.parse(JSON.stringify(read)) as Read;
  }
  return out;
}

/** `each`, and what both stores read back must be the same. */
async function both(steps: Step[], opts: Options = {}): Promise<Read> {
  const out = await each(steps, opts);
  expect(out.postgres).toEqual(out.file);
  return out.file;
}

const ids = (gs: ViolationGroup[]) => gs.map((g) => g.id).sort();
const regressions = (stored: StoredViolation[][]) => stored.flatMap((s, i) => s.filter((v) => v.regression).map(() => i));

describe('triage in both stores', () => {
  it('keeps each state across a restart with who, when and note, and hides ignored groups unless asked', async () => {
    const [a, b, c] = ['https://a.example/x.png', 'https://b.example/x.png', 'https://c.example/x.png'];
    const read = await both(
      [
        { append: img({ blocked: a, at: T0 }) },
        { append: img({ blocked: b, at: T0 + 1 }) },
        { append: img({ blocked: c, at: T0 + 2 }) },
        { state: [gid(a), { status: 'resolved', at: T0 + 10, by: 'alice <a@x>', note: 'allowed in the policy', release: '1.4.0' }] },
        { state: [gid(b), { status: 'ignored', at: T0 + 11, by: 'bob' }] },
        { state: [gid(c), { status: 'ignored', at: T0 + 12, occurrences: 5 }] },
        { state: ['g_nope', { status: 'resolved', at: T0 + 13 }] },
        'restart',
      ],
      { ids: [gid(a), gid(b)] },
    );
    expect(read.states[3]).toBeNull(); // no such group (undefined, as JSON)
    expect(read.states[0]?.triage).toEqual({ status: 'resolved', at: T0 + 10, by: 'alice <a@x>', note: 'allowed in the policy', release: '1.4.0' });
    expect(read.states[2]?.triage).toEqual({ status: 'ignored', at: T0 + 12, occurrences: 5, untilCount: 6 });
    expect(ids(read.groups.default)).toEqual([gid(a)].sort());
    expect(ids(read.groups.ignored)).toEqual([gid(b), gid(c)].sort());
    expect(ids(read.groups.all)).toEqual([gid(a), gid(b), gid(c)].sort());
    expect(ids(read.groups.resolved)).toEqual([gid(a)]);
    expect(read.groups.open).toEqual([]);
    expect((read.details[gid(b)] as { group: ViolationGroup }).group.triage).toEqual({ status: 'ignored', at: T0 + 11, by: 'bob' });
  });

  it('reopens a resolved group as a regression when it recurs from a newer release, once, and not for the resolved release or older ones', async () => {
    const a = 'https://a.example/x.png';
    const read = await both(
      [
        { append: img({ blocked: a, at: T0, release: '1.3.0' }) },
        { state: [gid(a), { status: 'resolved', at: T0 + 1000, by: 'alice', release: 'v1.4.0' }] },
        { append: img({ blocked: a, at: T0 + 2000, release: '1.4.0' }) },
        { append: img({ blocked: a, at: T0 + 3000, release: '1.3.12' }) },
        { append: img({ blocked: a, at: T0 + 4000, release: '1.10.0' }) },
        { append: img({ blocked: a, at: T0 + 5000, release: '1.11.0' }) },
        'restart',
      ],
      { ids: [gid(a)] },
    );
    // 1.4.0 and 1.3.12 are covered by "resolved in v1.4.0"; 1.10.0 is newer (numbers compare as numbers).
    expect(regressions(read.stored)).toEqual([3]);
    const g = (read.details[gid(a)] as { group: ViolationGroup }).group;
    expect(g.triage).toEqual({
      status: 'open',
      at: T0 + 4500,
      regression: true,
      reopened: { reason: 'regression', at: T0 + 4000, release: '1.10.0', previous: { status: 'resolved', at: T0 + 1000, by: 'alice', release: 'v1.4.0' } },
    });
    expect(ids(read.groups.regression)).toEqual([gid(a)]);
    expect(ids(read.groups.open)).toEqual([gid(a)]);
  });

  it('without a release, any occurrence after the resolution reopens; a late report of one before it does not', async () => {
    const a = 'https://a.example/x.png';
    const read = await both([
      { append: img({ blocked: a, at: T0, native: true }) },
      { state: [gid(a), { status: 'resolved', at: T0 + 60_000 }] },
      // report-to's age: it happened before the resolution and arrived after it.
      { append: img({ blocked: a, at: T0 + 30_000, age: 60_000, native: true }) },
      // Resolved in a release, a record that names none cannot be placed: it reopens too.
      { append: img({ blocked: a, at: T0 + 90_000, native: true }) },
      { state: [gid(a), { status: 'resolved', at: T0 + 100_000, release: '2.0.0' }] },
      { append: img({ blocked: a, at: T0 + 110_000, native: true }) },
    ]);
    expect(regressions(read.stored)).toEqual([2, 3]);
    expect(read.groups.regression[0]?.triage?.reopened).toMatchObject({ reason: 'regression', at: T0 + 110_000, previous: { release: '2.0.0' } });
  });

  it('flips an "ignore until N more" back to open when the group has had N more occurrences, and an "ignore until" once its time passed', async () => {
    const [a, b] = ['https://a.example/x.png', 'https://b.example/x.png'];
    const steps: Step[] = [
      { append: img({ blocked: a, at: T0 }) },
      { append: img({ blocked: b, at: T0 }) },
      { state: [gid(a), { status: 'ignored', at: T0 + 10, occurrences: 3 }] },
      { state: [gid(b), { status: 'ignored', at: T0 + 10, until: T0 + 600_000 }] },
      { append: img({ blocked: a, at: T0 + 100 }) },
      { append: img({ blocked: a, at: T0 + 200 }) },
    ];
    const before = await both([...steps, 'restart'], { now: T0 + 599_999 });
    expect(ids(before.groups.ignored)).toEqual([gid(a), gid(b)].sort());
    // (A restart before new records would give them other ids in PostgreSQL, which reserves ids in blocks.)
    const after = await both([...steps, { append: img({ blocked: a, at: T0 + 300 }) }, 'restart'], { now: T0 + 600_000, ids: [gid(a)] });
    expect(after.groups.ignored).toEqual([]);
    expect(regressions(after.stored)).toEqual([]);
    const [ga, gb] = [gid(a), gid(b)].map((id) => after.groups.open.find((g) => g.id === id)!);
    expect(ga.triage).toEqual({ status: 'open', at: T0 + 800, reopened: { reason: 'ignore-count', at: T0 + 800, previous: { status: 'ignored', at: T0 + 10, occurrences: 3, untilCount: 4 } } });
    expect(gb.triage).toEqual({ status: 'open', at: T0 + 600_000, reopened: { reason: 'ignore-expired', at: T0 + 600_000, previous: { status: 'ignored', at: T0 + 10, until: T0 + 600_000 } } });
  });

  // Which groups each store lets go, and when, is its own housekeeping (postgres-prune.test.ts):
  // what both must do is forget the state with the group.
  it('drops the state of a group it lets go (past maxGroups); the fingerprint comes back as a new, open group', async () => {
    const [a, b, c] = ['https://a.example/x.png', 'https://b.example/x.png', 'https://c.example/x.png'];
    const reads = await each(
      [
        { append: img({ blocked: a, at: T0 }) },
        { state: [gid(a), { status: 'resolved', at: T0 + 10 }] },
        { append: img({ blocked: b, at: T0 + 20 }) },
        { append: img({ blocked: c, at: T0 + 30 }) },
        { append: img({ blocked: a, at: T0 + 40 }) },
      ],
      { o: { maxRecords: 1, maxGroups: 1 } },
    );
    for (const kind of KINDS) {
      const read = reads[kind];
      expect(regressions(read.stored), kind).toEqual([]);
      expect(read.stored[3]![0], kind).toMatchObject({ newGroup: true, group: { id: gid(a) } });
      expect(read.stored[3]![0]!.group.triage, kind).toBeUndefined();
      expect(read.groups.all.filter((g) => g.triage), kind).toEqual([]);
    }
  });
  it('drops the state of a group it erases, across a restart; the fingerprint comes back as a new, open group', async () => {
    const [a, b] = ['https://a.example/x.png', 'https://b.example/x.png'];
    const reads = await each([
      { append: img({ blocked: a, at: T0 }) },
      { append: img({ blocked: b, at: T0 + 1 }) },
      { state: [gid(a), { status: 'resolved', at: T0 + 10, release: '1.0.0' }] },
      { state: [gid(b), { status: 'ignored', at: T0 + 11 }] },
      { erase: { groupId: gid(a) } },
      { erase: { document: 'https://shop.example/cart?id=7', before: T0 + 2 } },
      'restart',
      { append: img({ blocked: a, at: T0 + 40, release: '2.0.0' }) },
    ]);
    for (const kind of KINDS) {
      const read = reads[kind];
      // A new group, not a regression of the erased resolution.
      expect(regressions(read.stored), kind).toEqual([]);
      expect(read.stored[2]![0], kind).toMatchObject({ newGroup: true, group: { id: gid(a) } });
      expect(read.stored[2]![0]!.group.triage, kind).toBeUndefined();
      expect(read.groups.all.map((g) => [g.id, g.triage?.status ?? 'open', g.records]), kind).toEqual([[gid(a), 'open', 1]]);
    }
  });
});

describe('group filters, search and breakdowns in both stores', () => {
  it('finds groups new since a time and new in a release', async () => {
    const [a, b, c, d] = ['https://a.example/x.png', 'https://b.example/x.png', 'https://c.example/x.png', 'https://d.example/x.png'];
    const read = await both(
      [
        { append: img({ blocked: a, at: T0, release: '1.0' }) },
        { append: img({ blocked: b, at: T0 + 10_000, release: '2.0' }) },
        // c: first seen natively (no release) an hour before the SDK saw it in 2.0: not new in 2.0.
        { append: img({ blocked: c, at: T0 - 3_600_000, native: true }) },
        { append: img({ blocked: c, at: T0 + 20_000, release: '2.0' }) },
        // d: the SDK event of its first occurrence arrives after a native report of it.
        { append: img({ blocked: d, at: T0 + 30_000, native: true }) },
        { append: img({ blocked: d, at: T0 + 30_002, release: '2.0' }) },
        { append: img({ blocked: a, at: T0 + 40_000, release: '2.0' }) },
      ],
      { queries: { since: { newSince: T0 + 5_000 }, r2: { release: '2.0' }, r1: { release: '1.0' } } },
    );
    expect(ids(read.groups.since)).toEqual([gid(b), gid(d)].sort());
    expect(ids(read.groups.r2)).toEqual([gid(b), gid(d)].sort());
    expect(ids(read.groups.r1)).toEqual([gid(a)]);
    expect(read.groups.all.find((g) => g.id === gid(c))).toMatchObject({ firstRelease: '2.0', firstReleaseAt: T0 + 20_000 });
  });

  it('matches the document filter by prefix, ignoring query, fragment and the case of scheme and host; searches blocked URL, document and source file', async () => {
    const docs = ['https://Shop.example/report-uri/a?x=1', 'https://shop.example/report-uri', 'https://shop.example/other?report-uri', 'http://SHOP.example/cart', 'https://evil.example/report-uri/x'];
    const steps: Step[] = docs.map((doc, i) => ({ append: img({ blocked: `https://cdn${i}.example/pic_${i}%.png`, doc, at: T0 + i }) }));
    const read = await both(steps, {
      searches: {
        path: { document: '/report-uri' },
        url: { document: 'HTTPS://SHOP.EXAMPLE/report-uri?x=9#frag' },
        bare: { document: 'shop.example/' },
        exact: { document: 'https://shop.example/cart' },
        search: { q: 'REPORT-URI' },
        wildcard: { q: 'n%e' },
        literal: { q: 'pic_2%' },
        both: { document: '/report-uri', q: 'evil' },
      },
      queries: { onPath: { document: '/report-uri', status: 'all' }, searched: { q: 'cdn3', status: 'all' } },
    });
    const newestFirst = (...i: number[]) => i.sort((x, y) => y - x).map((n) => docs[n]);
    expect(read.records.path).toEqual(newestFirst(0, 1, 4));
    expect(read.records.url).toEqual(newestFirst(0, 1));
    expect(read.records.bare).toEqual(newestFirst(0, 1, 2, 3));
    expect(read.records.exact).toEqual([]);
    expect(read.records.search).toEqual(newestFirst(0, 1, 2, 4));
    expect(read.records.wildcard).toEqual([]);
    expect(read.records.literal).toEqual([docs[2]]);
    expect(read.records.both).toEqual([docs[4]]);
    expect(read.groups.onPath).toHaveLength(3);
    expect(ids(read.groups.searched)).toEqual([gid('https://cdn3.example/pic_3%.png')]);
  });

  it("counts a group's live records by document, browser, release, stream and disposition", async () => {
    const a = 'https://a.example/x.png';
    const steps: Step[] = [
      { append: img({ blocked: a, at: T0, doc: 'https://shop.example/p?id=1', release: '1.0' }) },
      { append: img({ blocked: a, at: T0 + 10_000, doc: 'https://shop.example/p?id=2', release: '1.0', ua: 'firefox' }) },
      { append: img({ blocked: a, at: T0 + 20_000, doc: 'https://shop.example/q', native: true }) },
      { append: img({ blocked: a, at: T0 + 30_000, doc: 'https://shop.example/p', release: '1.1' }) },
    ];
    const read = await both(steps, { ids: [gid(a), 'g_nope'] });
    const b = read.breakdowns[gid(a)]!;
    expect(read.breakdowns.g_nope).toBeUndefined();
    expect(b).toMatchObject({ records: 4, count: 4, rest: {} });
    expect(b.documents).toEqual([
      { value: 'https://shop.example/p', records: 3, count: 3 },
      { value: 'https://shop.example/q', records: 1, count: 1 },
    ]);
    expect(b.browsers).toEqual([
      { value: 'Chrome 156', records: 3, count: 3 },
      { value: 'Firefox 153', records: 1, count: 1 },
    ]);
    expect(b.releases).toEqual([
      { value: '1.0', records: 2, count: 2 },
      { value: '(none)', records: 1, count: 1 },
      { value: '1.1', records: 1, count: 1 },
    ]);
    expect(b.streams).toEqual([
      { value: 'sdk', records: 3, count: 3 },
      { value: 'report-uri', records: 1, count: 1 },
    ]);
    expect(b.dispositions).toEqual([{ value: 'enforce', records: 4, count: 4 }]);
  });

  it('applies severity rules of its own as it stores', async () => {
    const read = await both([{ append: img({ blocked: 'https://a.example/x.png', at: T0 }) }], { o: { severity: { 'img-src:external': 'high' } } });
    expect(read.groups.all[0]).toMatchObject({ severity: 'high' });
    expect(read.stored[0]![0]!.record.severity).toBe('high');
  });
});

describe('a triage change is as durable as a report', () => {
  const { children, dir } = cliSandbox();

  it('survives kill -9 right after its 200 (the journal holds it) and a restart, and the next regression still fires', async () => {
    const db = join(dir(), 'triage.json');
    const start = async () => {
      const child = await startCli(['serve', '--port', '0', '--host', '127.0.0.1', '--db', db, '--rate-limit', '0', '--token', TOKEN]);
      children.push(child);
      return child;
    };
    const api = (child: Child, path: string, init: RequestInit = {}) =>
      fetch(`${child.url}/api${path}`, { ...init, headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', ...init.headers } });
    let child = await start();
    const { body } = reportUriBody('triage');
    expect((await fetch(`${child.url}/report`, { method: 'POST', body, headers: { 'content-type': 'application/csp-report' } })).status).toBe(204);
    const [g] = ((await (await api(child, '/groups')).json()) as { items: ViolationGroup[] }).items;
    const res = await api(child, `/groups/${g!.id}/state`, { method: 'POST', body: JSON.stringify({ status: 'resolved', by: 'ops', note: 'fixed in the policy' }) });
    expect(res.status).toBe(200);
    child.process.kill('SIGKILL');
    expect((await child.exited).signal).toBe('SIGKILL');
    const journal = readFileSync(`${db.replace(/\.json$/, '')}.journal.jsonl`, 'utf8');
    expect(journal).toContain('"s":{"id"');

    child = await start();
    const after = (await (await api(child, `/groups/${g!.id}`)).json()) as { group: ViolationGroup };
    expect(after.group.triage).toMatchObject({ status: 'resolved', by: 'ops', note: 'fixed in the policy' });
    // The same violation again, now: it comes back as a regression.
    expect((await fetch(`${child.url}/report`, { method: 'POST', body, headers: { 'content-type': 'application/csp-report' } })).status).toBe(204);
    const again = (await (await api(child, `/groups?status=regression`)).json()) as { items: ViolationGroup[] };
    expect(again.items.map((x) => x.id)).toEqual([g!.id]);
    child.process.kill('SIGTERM');
    expect((await child.exited).code).toBe(0);
  });
});

describe('PostgreSQL: several instances', () => {
  it('reports one regression when two instances store the recurrence of a resolved group at once', async () => {
    const url = await server.createDatabase();
    const [one, two] = await Promise.all([openPostgresStore({ connectionString: url }), openPostgresStore({ connectionString: url })]);
    try {
      const a = 'https://a.example/x.png';
      await one.append(img({ blocked: a, at: T0 }));
      await two.setGroupState(gid(a), { status: 'resolved', at: T0 + 10 });
      const stored = await Promise.all(Array.from({ length: 8 }, (_, i) => (i % 2 ? one : two).append(img({ blocked: a, at: T0 + 1000 + i }))));
      expect(stored.flat().filter((s) => s.regression)).toHaveLength(1);
      expect((await one.group(gid(a)))?.group.triage).toMatchObject({ status: 'open', regression: true });
    } finally {
      await Promise.all([one.close(), two.close()]);
    }
  });

  it('deletes the state row with the group it prunes', async () => {
    const url = await server.createDatabase();
    const store = await openPostgresStore({ connectionString: url, maxRecords: 1, maxGroups: 1 });
    const rows = async () => (await server.query<{ group_id: string }>(url, 'SELECT group_id FROM csp_lens_triage')).map((r) => r.group_id);
    try {
      await store.append(img({ blocked: 'https://a.example/x.png', at: T0 }));
      await store.setGroupState(gid('https://a.example/x.png'), { status: 'ignored', at: T0 + 10 });
      expect(await rows()).toEqual([gid('https://a.example/x.png')]);
      await store.append(img({ blocked: 'https://b.example/x.png', at: T0 + 20 }));
      await store.append(img({ blocked: 'https://c.example/x.png', at: T0 + 30 }));
      expect((await store.group(gid('https://a.example/x.png')))).toBeUndefined();
      expect(await rows()).toEqual([]);
    } finally {
      await store.close();
    }
  });
});
