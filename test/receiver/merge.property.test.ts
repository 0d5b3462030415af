import fc from 'fast-check';
import type { ViolationRecord } from '@csp-lens/schema';
import { describe, expect, it } from 'vitest';
import { createState, emptyData } from '../../packages/receiver/src/core/state.js';
import type { IngestBatch } from '../../packages/receiver/src/core/types.js';
import { messages, violation } from '../helpers/violations.js';

function ingest(batches: IngestBatch[]): ViolationRecord[] {
  const state = createState(emptyData(), { mergeWindowMs: 10_000, maxRecords: 100_000, groupCapPerMinute: 10_000 });
  for (const b of batches) state.ingest(b);
  return [...state.records.values()];
}

const essence = (rs: ViolationRecord[]) =>
  rs
    .map(({ id, firstReceivedAt, lastReceivedAt, ...rest }) => JSON.stringify(rest))
    .sort();

const KEY_FIELDS = ['documentURL', 'effectiveDirective', 'sourceFile', 'lineNumber', 'columnNumber', 'sample', 'disposition'] as const;

describe('merge, for any arrival order', () => {
  it('stores the same records whatever order the streams arrive in', () => {
    fc.assert(
      fc.property(fc.array(violation, { minLength: 1, maxLength: 25 }), fc.integer(), (vs, seed) => {
        const msgs = vs.flatMap(messages);
        const inTime = [...msgs].sort((a, b) => a.at - b.at).map((m) => m.batch);
        const shuffled = fc.sample(fc.shuffledSubarray(msgs, { minLength: msgs.length, maxLength: msgs.length }), { seed, numRuns: 1 })[0].map((m) => m.batch);
        const reversed = [...inTime].reverse();
        const a = essence(ingest(inTime));
        expect(essence(ingest(shuffled))).toEqual(a);
        expect(essence(ingest(reversed))).toEqual(a);
      }),
      { numRuns: 400 },
    );
  });

  it('never joins reports whose key fields differ, takes no more native reports than the SDK counted, and loses no occurrence', () => {
    fc.assert(
      fc.property(fc.array(violation, { minLength: 1, maxLength: 25 }), (vs) => {
        const msgs = vs.flatMap(messages);
        const records = ingest(msgs.map((m) => m.batch));
        for (const r of records) {
          for (const k of KEY_FIELDS) expect(r.sdkValues?.[k]).toBeUndefined();
          // One report per occurrence (Firefox, WebKit): as many as the SDK counted, at most.
          expect(r.sources.reportUri).toBeLessThanOrEqual(Math.max(1, r.sources.sdk));
          expect(r.sources.reportTo).toBeLessThanOrEqual(Math.max(1, r.sources.sdk));
          if (r.sdkValues?.blockedURL) expect(r.sdkValues.blockedURL.startsWith(r.blockedURL ?? '\0') || r.blockedURL?.startsWith(r.sdkValues.blockedURL)).toBe(true);
          // What a native report did not know comes from the SDK: a merged record is never "unknown".
          if (r.sources.sdk) expect(r.disposition).not.toBe('unknown');
        }
        const total = (stream: 'sdk' | 'reportUri' | 'reportTo') => records.reduce((n, r) => n + r.sources[stream], 0);
        const sent = (stream: string) => msgs.filter((m) => m.stream === stream).reduce((n, m) => n + m.count, 0);
        expect(total('sdk')).toBe(sent('sdk'));
        expect(total('reportUri')).toBe(sent('reportUri'));
        expect(total('reportTo')).toBe(sent('reportTo'));
      }),
      { numRuns: 400 },
    );
  });

  it('stores one violation of any engine as one record, whatever the engine leaves out', () => {
    fc.assert(
      fc.property(violation, (v) => {
        const one = { ...v, sdk: true, uri: v.uri || !v.to, toDelay: Math.min(v.toDelay, 5_000) };
        const msgs = messages(one);
        for (const order of [msgs, [...msgs].reverse()]) {
          const records = ingest(order.map((m) => m.batch));
          expect(records).toHaveLength(1);
          const [r] = records;
          expect(r.sources).toEqual({ sdk: one.count, reportUri: one.uri ? (one.engine === 'chromium' ? 1 : one.count) : 0, reportTo: one.to ? (one.engine === 'chromium' ? 1 : one.count) : 0 });
          expect(r).toMatchObject({ disposition: one.disposition, count: one.count });
          if (one.line) expect(r.lineNumber).toBe(one.line);
          if (one.blocked === 'inline') expect(r.sample).toBe(`sample ${one.line}`);
        }
      }),
      { numRuns: 300 },
    );
  });
});
