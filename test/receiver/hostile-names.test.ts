import { describe, expect, it } from 'vitest';
import { normalizeNative } from '../../packages/receiver/src/core/normalize.js';
import { createState, emptyData } from '../../packages/receiver/src/core/state.js';
import { computeStats } from '../../packages/receiver/src/core/query.js';

// Names from payloads become keys of tallies: `constructor` & co. must count like any other name.
describe('payload names used as keys', () => {
  it('counts a report type named after Object.prototype members as a plain name, and such a directive as no directive', () => {
    const state = createState(emptyData(), { mergeWindowMs: 10_000, maxRecords: 100, groupCapPerMinute: 100 });
    const meta = { receivedAt: 1_800_000_000_000, userAgent: 'UA' };
    const body = [
      { type: 'csp-violation', url: 'https://s.test/', body: { documentURL: 'https://s.test/', effectiveDirective: 'constructor', disposition: 'enforce', blockedURL: 'inline' } },
      { type: 'constructor', url: 'https://s.test/', body: {} },
      { type: 'tostring', url: 'https://s.test/', body: {} },
    ];
    state.ingest(normalizeNative(body, meta));
    state.ingest(normalizeNative(body, meta));
    const stats = computeStats(state.records.values(), 1, state.data.counters, {});
    // Directives come from CSP's list now (directives.ts): "constructor" is none, counted as invalid.
    expect(stats.coverage.byDirective).toEqual({});
    expect(stats.invalidReasons).toEqual({ 'unknown-directive': 2 });
    expect(stats.otherReports).toEqual({ _constructor: 2, tostring: 2 });
    expect(typeof Object.prototype.constructor).toBe('function');
    expect(Object.keys(Object.prototype)).toEqual([]);
  });
});
