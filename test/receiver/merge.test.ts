import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { SdkBatch, ViolationRecord } from '@csp-lens/schema';
import { describe, expect, it } from 'vitest';
import { normalizeNative, normalizeSdk } from '../../packages/receiver/src/core/normalize.js';
import { parseBody } from '../../packages/receiver/src/core/parse.js';
import { createState, emptyData } from '../../packages/receiver/src/core/state.js';
import { blockedCompatible } from '../../packages/receiver/src/core/url.js';
import type { IngestBatch } from '../../packages/receiver/src/core/types.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/chromium-156/', import.meta.url));
const json = (file: string) => JSON.parse(readFileSync(FIXTURES + file, 'utf8'));
const UA = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/156.0.0.0 Safari/537.36';
const T0 = 1_795_302_980_000;

const newState = (window = 10_000, maxRecords = 10_000) =>
  createState(emptyData(), { mergeWindowMs: window, maxRecords, groupCapPerMinute: 1000 });

type Event = Record<string, any>;

/** The SDK batch the SDK would send for fixture events (one page view). */
function sdkBatch(events: Event[], opts: { pageId?: string; t?: number; sentAt?: number; documentURI?: string } = {}): SdkBatch {
  const t = opts.t ?? T0;
  return {
    v: 1,
    sentAt: opts.sentAt ?? t + 1000,
    page: { id: opts.pageId ?? 'pv_1', url: `${opts.documentURI ?? events[0].documentURI}#frag`, policies: [events[0].originalPolicy] },
    events: events.map((ev) => ({
      t,
      count: ev.count ?? 1,
      documentURI: opts.documentURI ?? ev.documentURI,
      blockedURI: ev.blockedURI,
      effectiveDirective: ev.effectiveDirective,
      violatedDirective: ev.violatedDirective,
      policy: 0,
      disposition: ev.disposition,
      statusCode: ev.statusCode,
      sourceFile: ev.sourceFile,
      lineNumber: ev.lineNumber,
      columnNumber: ev.columnNumber,
      sample: ev.sample,
      referrer: ev.referrer,
      ...(ev.element ? { element: ev.element } : {}),
    })),
  };
}

const sdk = (batch: SdkBatch, receivedAt: number): IngestBatch => normalizeSdk(batch, { receivedAt, userAgent: UA });
const reportUri = (body: unknown, receivedAt: number): IngestBatch =>
  normalizeNative(parseBody(JSON.stringify(body), 'application/csp-report'), { receivedAt, userAgent: UA });
const reportTo = (body: unknown, receivedAt: number): IngestBatch =>
  normalizeNative(parseBody(JSON.stringify(body), 'application/reports+json'), { receivedAt, userAgent: 'ignored: report-to carries user_agent' });

const records = (state: ReturnType<typeof newState>) => [...state.records.values()];

/** A record minus what depends on arrival (ids, reception times). */
function essence(r: ViolationRecord) {
  const { id, groupId, firstReceivedAt, lastReceivedAt, ...rest } = r;
  return rest;
}
const sorted = (rs: ViolationRecord[]) => rs.map(essence).sort((a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1));

const types = (dir: string) =>
  readdirSync(FIXTURES + dir)
    .filter((f) => f.startsWith('event-'))
    .map((f) => f.slice('event-'.length, -'.json'.length));

describe.each(['enforce', 'report-only'])('Chromium fixtures (%s)', (dir) => {
  it.each(types(dir))('merges the SDK event of %s with its report-uri report, in either order', (type) => {
    const ev = json(`${dir}/event-${type}.json`);
    const native = json(`${dir}/report-uri-${type}.json`);
    const a = newState();
    a.ingest(sdk(sdkBatch([ev]), T0 + 1000));
    a.ingest(reportUri(native, T0 + 50));
    const b = newState();
    b.ingest(reportUri(native, T0 + 50));
    b.ingest(sdk(sdkBatch([ev]), T0 + 1000));
    expect(records(a)).toHaveLength(1);
    const [r] = records(a);
    expect(r.sources).toEqual({ sdk: 1, reportUri: 1, reportTo: 0 });
    expect(r.disposition).toBe(dir === 'enforce' ? 'enforce' : 'report');
    expect(r.page?.id).toBe('pv_1');
    expect(sorted(records(b))).toEqual(sorted(records(a)));
  });

  it.each(types(dir))('merges the SDK event of %s with its report-to report when every key field agrees', (type) => {
    const ev = json(`${dir}/event-${type}.json`);
    const [report] = json(`${dir}/report-to-${type}.json`);
    // The report-to fixtures come from a second load of the page: same violation, other run query.
    const state = newState();
    state.ingest(sdk(sdkBatch([ev], { documentURI: report.body.documentURL }), T0 + 1000));
    state.ingest(reportTo([{ ...report, age: 300 }], T0 + 300));
    const b = report.body;
    const agree =
      (b.lineNumber ?? 0) === ev.lineNumber && (b.columnNumber ?? 0) === ev.columnNumber && (b.sample ?? '') === ev.sample && (b.sourceFile ?? '') === ev.sourceFile;
    if (agree) {
      expect(records(state)).toHaveLength(1);
      expect(records(state)[0].sources).toEqual({ sdk: 1, reportUri: 0, reportTo: 1 });
    } else {
      // The two loads really differ here (line, column or sample): two violations, never one.
      expect(records(state)).toHaveLength(2);
    }
  });
});

describe('merge', () => {
  const img = () => json('enforce/event-img.json');
  const imgUri = () => json('enforce/report-uri-img.json');

  it('counts repeats in one page view on one record that a single native report joins', () => {
    const state = newState();
    state.ingest(sdk(sdkBatch([{ ...img(), count: 3 }]), T0 + 1000));
    state.ingest(sdk(sdkBatch([{ ...img(), count: 2 }], { t: T0 + 4000, sentAt: T0 + 5000 }), T0 + 5000));
    state.ingest(reportUri(imgUri(), T0 + 20));
    const [r, ...rest] = records(state);
    expect(rest).toEqual([]);
    expect(r.sources).toEqual({ sdk: 5, reportUri: 1, reportTo: 0 });
    expect(r.count).toBe(5);
  });

  it('leaves the excess of a burst as SDK-only records when the browser sent fewer native reports', () => {
    const state = newState();
    const base = img();
    const events = Array.from({ length: 150 }, (_, i) => ({ ...base, blockedURI: `https://127.0.0.1:8813/burst/${i}.png` }));
    for (let i = 0; i < 150; i += 30) state.ingest(sdk(sdkBatch(events.slice(i, i + 30)), T0 + 1000));
    for (let i = 50; i < 150; i++) {
      state.ingest(reportUri({ 'csp-report': { ...imgUri()['csp-report'], 'blocked-uri': events[i].blockedURI } }, T0 + 10));
    }
    const rs = records(state);
    expect(rs).toHaveLength(150);
    expect(rs.filter((r) => r.sources.reportUri === 1 && r.sources.sdk === 1)).toHaveLength(100);
    expect(rs.filter((r) => r.sources.reportUri === 0 && r.sources.sdk === 1)).toHaveLength(50);
  });

  it('joins a frame-src report cut to the origin with the SDK event that knows the full URL', () => {
    const state = newState();
    const ev = { ...json('enforce/event-iframe.json'), blockedURI: 'https://127.0.0.1:8813/frame.html?f=1&secret=frm' };
    state.ingest(sdk(sdkBatch([ev]), T0 + 1000));
    state.ingest(reportUri(json('enforce/report-uri-iframe.json'), T0 + 10));
    const [r, ...rest] = records(state);
    expect(rest).toEqual([]);
    expect(r.blockedURL).toBe('https://127.0.0.1:8813');
    expect(r.sdkValues?.blockedURL).toBe('https://127.0.0.1:8813/frame.html?f=1&secret=frm');
  });

  it('never merges across user agents, dispositions or beyond the window', () => {
    const state = newState(10_000);
    state.ingest(sdk(sdkBatch([img()]), T0 + 1000));
    state.ingest(normalizeNative(imgUri(), { receivedAt: T0 + 20, userAgent: 'Other/1.0' }));
    state.ingest(reportUri({ 'csp-report': { ...imgUri()['csp-report'], disposition: 'report' } }, T0 + 20));
    state.ingest(reportUri(imgUri(), T0 + 60_000));
    expect(records(state).map((r) => r.sources)).toEqual(
      expect.arrayContaining([
        { sdk: 1, reportUri: 0, reportTo: 0 },
        { sdk: 0, reportUri: 1, reportTo: 0 },
        { sdk: 0, reportUri: 1, reportTo: 0 },
        { sdk: 0, reportUri: 1, reportTo: 0 },
      ]),
    );
    expect(records(state)).toHaveLength(4);
  });

  it('treats blocked URLs as the same only when equal or when one side was cut to the origin', () => {
    expect(blockedCompatible('https://a.test/x.png', 'https://a.test/x.png')).toBe(true);
    expect(blockedCompatible('https://a.test', 'https://a.test/x.png')).toBe(true);
    expect(blockedCompatible('https://a.test/y.png', 'https://a.test/x.png')).toBe(false);
    expect(blockedCompatible('https://b.test', 'https://a.test/x.png')).toBe(false);
    expect(blockedCompatible('inline', 'eval')).toBe(false);
    expect(blockedCompatible(undefined, 'inline')).toBe(false);
  });

  it('rolls records into groups by directive, category and blocked origin', () => {
    const state = newState();
    state.ingest(sdk(sdkBatch([img(), { ...img(), blockedURI: 'https://127.0.0.1:8813/other.png' }]), T0 + 1000));
    state.ingest(reportUri(imgUri(), T0 + 10));
    state.ingest(sdk(sdkBatch([json('enforce/event-inline-script.json')]), T0 + 1000));
    const groups = Object.values(state.data.groups);
    const imgGroup = groups.find((g) => g.effectiveDirective === 'img-src')!;
    expect(groups).toHaveLength(2);
    expect(imgGroup).toMatchObject({ records: 2, count: 2, merged: 1, blocked: 'https://127.0.0.1:8813', category: 'external' });
    expect(imgGroup.sources).toEqual({ sdk: 2, reportUri: 1, reportTo: 0 });
    expect(imgGroup.reach).toEqual({ documents: 1, pageViews: 1, userAgents: 1 });
  });

  it('sends new groups past the per-minute cap to the overflow group', () => {
    const state = createState(emptyData(), { mergeWindowMs: 10_000, maxRecords: 10_000, groupCapPerMinute: 3 });
    for (let i = 0; i < 10; i++) {
      state.ingest(reportUri({ 'csp-report': { ...imgUri()['csp-report'], 'blocked-uri': `https://h${i}.example/x.png` } }, T0));
    }
    const groups = Object.values(state.data.groups);
    expect(groups).toHaveLength(4);
    expect(state.data.groups.g_overflow).toMatchObject({ overflow: true, records: 7, count: 7 });
  });
});
