import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { ViolationRecord } from '@csp-lens/schema';
import { createState, emptyData } from '../../packages/receiver/src/core/state.js';
import { normalizeNative, normalizeSdk } from '../../packages/receiver/src/core/normalize.js';
import { parseBody } from '../../packages/receiver/src/core/parse.js';
import type { IngestBatch } from '../../packages/receiver/src/core/types.js';

// One page view of the probe page with the SDK on it, as Firefox ESR 153 and WebKitGTK 2.50 sent it
// (test/fixtures/<engine>/wire/f_sdk_*.json, scripts/capture-fixtures.mjs): every native report and
// the SDK's batch, replayed into the store as they arrived. What these engines do differently from
// Chromium is in test/fixtures/ENGINES.md.

interface Wire {
  userAgent: string;
  requests: { at: number; method: string; url: string; rawHeaders: string[]; body: string }[];
}

const T0 = 1_800_000_000_000;
const header = (raw: string[], name: string) => {
  for (let i = 0; i < raw.length; i += 2) if (raw[i]!.toLowerCase() === name) return raw[i + 1];
  return undefined;
};

/** The load's reports and the SDK's own batch, as the receiver would have taken them. */
function arrivals(engine: string, load: string): { at: number; stream: string; batch: IngestBatch }[] {
  const wire = JSON.parse(readFileSync(new URL(`../fixtures/${engine}/wire/${load}.json`, import.meta.url), 'utf8')) as Wire;
  const out: { at: number; stream: string; batch: IngestBatch }[] = [];
  for (const r of wire.requests) {
    if (r.method !== 'POST') continue;
    const stream = r.url.startsWith('/r/uri') ? 'reportUri' : r.url.startsWith('/r/to') ? 'reportTo' : r.url.includes('via=sdk') ? 'sdk' : undefined;
    if (!stream) continue; // the page's own probes of beacon and keepalive delivery
    const meta = { receivedAt: T0 + r.at, userAgent: header(r.rawHeaders, 'user-agent') };
    const body = parseBody(r.body, header(r.rawHeaders, 'content-type') ?? '');
    out.push({ at: r.at, stream, batch: stream === 'sdk' ? normalizeSdk(body, meta) : normalizeNative(body, meta) });
  }
  return out;
}

function store(batches: IngestBatch[]): ViolationRecord[] {
  const state = createState(emptyData(), { mergeWindowMs: 10_000, maxRecords: 10_000, groupCapPerMinute: 1000 });
  for (const b of batches) state.ingest(b);
  return [...state.records.values()];
}

const essence = (rs: ViolationRecord[]) => rs.map(({ id, firstReceivedAt, lastReceivedAt, ...r }) => JSON.stringify(r)).sort();

const LOADS = [
  ['f_sdk_uri', 'report-uri', 'enforce'],
  ['f_sdk_to', 'report-to', 'enforce'],
  ['f_sdk_ro_uri', 'report-uri', 'report'],
] as const;

describe.each(['firefox-153', 'webkit-2.50'])('one page view of %s, every violation of the probe page', (engine) => {
  it.each(LOADS)('%s: each violation is one record, with the SDK event and every native report of it (%s, %s)', (load, _stream, disposition) => {
    const all = arrivals(engine, load);
    const sdk = all.find((a) => a.stream === 'sdk')!;
    const events = sdk.batch.violations.length;
    const native = all.filter((a) => a.stream !== 'sdk');
    const reports = native.reduce((n, a) => n + a.batch.violations.length, 0);
    expect(reports).toBeGreaterThan(15);
    const records = store(all.map((a) => a.batch));
    // As many records as the SDK saw distinct violations, each merged with its native reports.
    expect(records).toHaveLength(events);
    for (const r of records) {
      expect(r.sources.sdk, `${r.effectiveDirective} ${r.blockedURL}`).toBeGreaterThan(0);
      expect(r.sources.reportUri + r.sources.reportTo, `${r.effectiveDirective} ${r.blockedURL}`).toBeGreaterThan(0);
      // One report per occurrence, as many as the SDK counted.
      expect(Math.max(r.sources.reportUri, r.sources.reportTo)).toBe(r.sources.sdk);
      // No report-only violation stored as enforced; none left unknown either (the SDK knew).
      expect(r.disposition).toBe(disposition);
      // What a report left out, the SDK's event filled in: no field "the SDK saw differently".
      expect(r.sdkValues ?? {}).toEqual({});
    }
    const occurrences = (s: 'reportUri' | 'reportTo') => records.reduce((n, r) => n + r.sources[s], 0);
    expect(occurrences('reportUri') + occurrences('reportTo')).toBe(reports);
    // In any arrival order.
    expect(essence(store([...all].reverse().map((a) => a.batch)))).toEqual(essence(records));
  });
});

describe('WebKit report-uri, without the SDK', () => {
  it('stores a report that says no disposition as unknown, never as enforced', () => {
    const records = store(arrivals('webkit-2.50', 'f_sdk_ro_uri').filter((a) => a.stream !== 'sdk').map((a) => a.batch));
    expect(records.length).toBeGreaterThan(15);
    expect(new Set(records.map((r) => r.disposition))).toEqual(new Set(['unknown']));
  });

  it('keeps the SDK’s sample and position where the report has none', () => {
    const records = store(arrivals('webkit-2.50', 'f_sdk_uri').map((a) => a.batch));
    const inline = records.find((r) => r.effectiveDirective === 'script-src-elem' && r.blockedURL === 'inline')!;
    expect(inline).toMatchObject({ sources: { sdk: 1, reportUri: 1 }, sample: expect.stringContaining('__inlineRan'), lineNumber: expect.any(Number) });
  });
});
