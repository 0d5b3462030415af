import fc from 'fast-check';
import type { SdkBatch } from '@csp-lens/schema';
import { normalizeNative, normalizeSdk } from '../../packages/receiver/src/normalize.js';
import type { GroupQuery, IngestBatch, Store, ViolationQuery } from '../../packages/receiver/src/types.js';

const T0 = 1_800_000_000_000;

/** Everything the read API can ask a store, as plain JSON (the file store's objects are live). */
export async function snapshot(store: Store) {
  const pages = [];
  let cursor: string | undefined;
  do {
    const page = await store.violations({ limit: 7, cursor });
    pages.push(page);
    cursor = page.next;
  } while (cursor);
  const filters: ViolationQuery[] = [
    { source: 'sdk' }, { source: 'reportUri' }, { source: 'reportTo' }, { directive: 'img-src' }, { disposition: 'report' },
    { severity: 'high' }, { since: T0 + 5_000, until: T0 + 15_000 }, { document: 'https://s.test/a' },
  ];
  const filtered = await Promise.all(filters.map((q) => store.violations({ ...q, limit: 500 })));
  const groups = {} as Record<NonNullable<GroupQuery['sort']>, Awaited<ReturnType<Store['groups']>>>;
  for (const sort of ['lastSeen', 'count', 'reach', 'severity'] as const) groups[sort] = await store.groups({ sort, limit: 500 });
  const coverage = await Promise.all((['merged', 'sdk-only', 'native-only'] as const).map((c) => store.groups({ coverage: c, limit: 2 })));
  const details = await Promise.all(groups.severity.items.map((g) => store.group(g.id)));
  const records = pages.flatMap((p) => p.items);
  const hashes = [...new Set(records.flatMap((r) => (r.policyHash ? [r.policyHash] : [])))].sort();
  const policies = await Promise.all(hashes.map((h) => store.policy(h)));
  const stats = await store.stats({});
  const window = await store.stats({ since: T0 + 5_000, until: T0 + 15_000 });
  return JSON.parse(JSON.stringify({ pages, filtered, groups, coverage, details, policies, stats, window, missing: await store.group('g_nope') ?? null })) as {
    pages: Awaited<ReturnType<Store['violations']>>[];
    groups: typeof groups;
    stats: Awaited<ReturnType<Store['stats']>>;
  } & Record<string, unknown>;
}

// Random violations from small domains, so that many share key fields, page views and times: the
// ambiguous cases are the common case (as in merge.property.test.ts).
export const violation = fc.record({
  doc: fc.constantFrom('https://s.test/a', 'https://s.test/b?q=1'),
  directive: fc.constantFrom('img-src', 'script-src-elem', 'frame-src'),
  blocked: fc.constantFrom('https://x.test/1.png', 'https://x.test/2.png', 'https://x.test', 'inline', 'https://y.test/z.js'),
  line: fc.constantFrom(0, 7),
  disposition: fc.constantFrom<'enforce' | 'report'>('enforce', 'report'),
  ua: fc.constantFrom('UA/1', 'UA/2'),
  page: fc.constantFrom('pv1', 'pv2', 'pv3'),
  t: fc.integer({ min: 0, max: 20_000 }),
  count: fc.integer({ min: 1, max: 3 }),
  sdk: fc.boolean(),
  uri: fc.boolean(),
  to: fc.boolean(),
  sdkDelay: fc.integer({ min: 0, max: 8_000 }),
  uriDelay: fc.integer({ min: 0, max: 3_000 }),
  toDelay: fc.integer({ min: 0, max: 120_000 }),
});
type V = typeof violation extends fc.Arbitrary<infer T> ? T : never;

/** What the three streams deliver for one violation, each with its arrival time. */
export function messages(v: V): { at: number; batch: IngestBatch }[] {
  const out: { at: number; batch: IngestBatch }[] = [];
  const happened = T0 + v.t;
  const line = v.line || undefined;
  const policy = `img-src none; report-uri /r${v.directive.length}`;
  if (v.sdk) {
    const at = happened + v.sdkDelay;
    const body: SdkBatch = {
      v: 1,
      sentAt: at,
      page: { id: v.page, url: `${v.doc}#x`, policies: [policy] },
      events: [{ t: happened, count: v.count, documentURI: v.doc, blockedURI: v.blocked, effectiveDirective: v.directive, violatedDirective: v.directive, policy: 0, disposition: v.disposition, statusCode: 200, sourceFile: line ? v.doc : '', lineNumber: line ?? 0, columnNumber: line ? 3 : 0, sample: '', referrer: '' }],
    };
    out.push({ at, batch: normalizeSdk(body, { receivedAt: at, userAgent: v.ua }) });
  }
  const report = { 'document-uri': v.doc, 'effective-directive': v.directive, 'violated-directive': v.directive, 'blocked-uri': v.blocked, disposition: v.disposition, 'original-policy': policy, 'status-code': 200, ...(line ? { 'source-file': v.doc, 'line-number': line, 'column-number': 3 } : {}) };
  if (v.uri) out.push({ at: happened + v.uriDelay, batch: normalizeNative({ 'csp-report': report }, { receivedAt: happened + v.uriDelay, userAgent: v.ua }) });
  if (v.to) {
    const at = happened + v.toDelay;
    const body = { documentURL: v.doc, effectiveDirective: v.directive, blockedURL: v.blocked, disposition: v.disposition, originalPolicy: policy, statusCode: 200, sourceFile: line ? v.doc : null, lineNumber: line ?? null, columnNumber: line ? 3 : null, sample: '' };
    out.push({ at, batch: normalizeNative([{ type: 'csp-violation', age: v.toDelay, url: v.doc, user_agent: v.ua, body }], { receivedAt: at, userAgent: 'header' }) });
  }
  return out;
}
