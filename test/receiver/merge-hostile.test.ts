import { describe, expect, it } from 'vitest';
import type { NormalizedViolation, SdkBatch } from '@csp-lens/schema';
import { normalizeNative, normalizeSdk } from '../../packages/receiver/src/core/normalize.js';
import { createState, emptyData } from '../../packages/receiver/src/core/state.js';
import { BUCKET_UNITS, WIDE_UNITS, addToBucket, newBucket } from '../../packages/receiver/src/core/bucket.js';

// Issue 12's attacks on the merge: the work one report can cause is bounded, and an SDK batch (which
// anyone can send) cannot put its claims on another browser's report as facts.

const T = 1_800_000_000_000;
const UA = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36';

const reportTo = (blockedURL: string, at: number, clientIp = '198.51.100.0') =>
  normalizeNative(
    [{ type: 'csp-violation', age: 0, url: 'https://site.example/p', user_agent: UA, body: { documentURL: 'https://site.example/p', blockedURL, effectiveDirective: 'frame-src', disposition: 'enforce', lineNumber: 7, columnNumber: 3, sourceFile: 'https://site.example/p' } }],
    { receivedAt: at, userAgent: UA, clientIp },
  ).violations[0]!;

const sdkEvent = (blockedURI: string, at: number, opts: { clientIp: string; pageId: string; release: string; count?: number }) =>
  normalizeSdk(
    {
      v: 1,
      sentAt: at,
      page: { id: opts.pageId, url: 'https://site.example/p#tab', release: opts.release },
      events: [{ t: at, count: opts.count ?? 1, documentURI: 'https://site.example/p', blockedURI, effectiveDirective: 'frame-src', violatedDirective: 'frame-src', disposition: 'enforce', statusCode: 200, sourceFile: 'https://site.example/p', lineNumber: 7, columnNumber: 3, sample: '', referrer: '', element: { tag: 'iframe', selector: opts.release === 'evil' ? '#evil' : '#real', attr: 'src', url: blockedURI } }],
    } satisfies SdkBatch,
    { receivedAt: at, userAgent: UA, clientIp: opts.clientIp },
  );

describe('the merge under hostile input', () => {
  it('keeps a bucket within its bounds, whatever one page view floods it with, so one report never matches thousands of units', () => {
    const bucket = newBucket('g1');
    let seq = 0;
    // Thousands of distinct URLs on one origin from one page view…
    for (let i = 0; i < 2_000; i++) addToBucket(bucket, reportTo(`https://frames.example/${i}`, T + i), undefined, () => ++seq, 10_000);
    expect(bucket.units.length).toBeLessThanOrEqual(BUCKET_UNITS);
    // …then reports cut to that origin, each of which could pair with any URL of it.
    for (let i = 0; i < 200; i++) {
      const { after } = addToBucket(bucket, reportTo('https://frames.example', T + 2_000 + i), undefined, () => ++seq, 10_000);
      expect(after.length).toBeLessThanOrEqual(BUCKET_UNITS);
    }
    expect(bucket.units.length).toBeLessThanOrEqual(BUCKET_UNITS);
    expect(bucket.units.filter((u) => u.v.blockedURL === 'https://frames.example').length).toBeLessThanOrEqual(WIDE_UNITS);
  });

  it('counts the records it made final early, and keeps every occurrence', () => {
    const state = createState(emptyData(), { mergeWindowMs: 10_000, maxRecords: 100_000, groupCapPerMinute: 100 });
    const batch = { violations: [] as NormalizedViolation[], otherReports: {}, invalid: 0 };
    for (let i = 0; i < 2000; i++) batch.violations.push(reportTo(`https://frames.example/${i}`, T + i));
    state.ingest(batch);
    state.ingest({ violations: [reportTo('https://frames.example', T + 3000)], otherReports: {}, invalid: 0 });
    expect(state.limits().frozenEarly).toBeGreaterThan(0);
    expect([...state.records.values()].reduce((n, r) => n + r.count, 0)).toBe(2001);
  });

  it('prefers the browser’s own SDK event to a forged one nearer in time', () => {
    const state = createState(emptyData(), { mergeWindowMs: 10_000, maxRecords: 1000, groupCapPerMinute: 100 });
    const url = 'https://frames.example/embed?x=1';
    state.ingest(sdkEvent(url, T, { clientIp: '198.51.100.0', pageId: 'pv-victim', release: '1.0' }));
    state.ingest(sdkEvent(url, T + 900, { clientIp: '203.0.113.0', pageId: 'pv-victim', release: 'evil' }));
    state.ingest({ violations: [reportTo(url, T + 1000)], otherReports: {}, invalid: 0 });
    const records = [...state.records.values()];
    const merged = records.find((r) => r.sources.reportTo > 0)!;
    expect(merged).toMatchObject({ sources: { sdk: 1, reportTo: 1 }, page: { release: '1.0' }, element: { selector: '#real' } });
    expect(merged.sdkClient).toBeUndefined();
    expect(records.find((r) => r.page?.release === 'evil')).toMatchObject({ sources: { sdk: 1, reportTo: 0 }, clientIp: '203.0.113.0' });
  });

  it('marks SDK context that came from another client than the native report as the SDK’s claim', () => {
    const state = createState(emptyData(), { mergeWindowMs: 10_000, maxRecords: 1000, groupCapPerMinute: 100 });
    const url = 'https://frames.example/embed?x=1';
    state.ingest({ violations: [reportTo(url, T + 1000)], otherReports: {}, invalid: 0 });
    state.ingest(sdkEvent(url, T + 900, { clientIp: '203.0.113.0', pageId: 'pv-victim', release: 'evil' }));
    const [record] = [...state.records.values()];
    expect(record).toMatchObject({ sources: { sdk: 1, reportTo: 1 }, clientIp: '198.51.100.0', sdkClient: '203.0.113.0' });
  });

  it('bounds the occurrences one page view’s SDK events can add up to', () => {
    const state = createState(emptyData(), { mergeWindowMs: 10_000, maxRecords: 1000, groupCapPerMinute: 100 });
    for (let i = 0; i < 3000; i++) {
      state.ingest(sdkEvent('https://frames.example/x', T + i, { clientIp: '203.0.113.0', pageId: 'pv-1', release: '1', count: 1_000_000 }));
    }
    const [record] = [...state.records.values()];
    expect(record.count).toBeLessThanOrEqual(10_000_000);
    expect(Number.isSafeInteger(record.count)).toBe(true);
  });
});
