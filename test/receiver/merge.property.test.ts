import fc from 'fast-check';
import type { ViolationRecord } from '@csp-lens/schema';
import { describe, expect, it } from 'vitest';
import { createState, emptyData } from '../../packages/receiver/src/store/state.js';
import type { IngestBatch } from '../../packages/receiver/src/types.js';
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

  it('never joins reports whose key fields differ, and loses no occurrence', () => {
    fc.assert(
      fc.property(fc.array(violation, { minLength: 1, maxLength: 25 }), (vs) => {
        const msgs = vs.flatMap(messages);
        const records = ingest(msgs.map((m) => m.batch));
        for (const r of records) {
          for (const k of KEY_FIELDS) expect(r.sdkValues?.[k]).toBeUndefined();
          expect(r.sources.reportUri).toBeLessThanOrEqual(1);
          expect(r.sources.reportTo).toBeLessThanOrEqual(1);
          if (r.sdkValues?.blockedURL) expect(r.sdkValues.blockedURL.startsWith(r.blockedURL ?? '\0') || r.blockedURL?.startsWith(r.sdkValues.blockedURL)).toBe(true);
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
});
