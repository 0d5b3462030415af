import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { NormalizedViolation } from '@csp-lens/schema';
import { createState, emptyData } from '../../packages/receiver/src/core/state.js';

// A group's reach counts the distinct documents, page views and user agents of every violation it
// took (sets of short hashes, capped far above what these runs reach), whatever order they come in,
// however they are batched, and whatever the live window has let go since.

const T0 = 1_800_000_000_000;
const DOCS = ['https://a.example/', 'https://a.example/cart', 'https://b.example/p?q=1', 'https://b.example/p?q=2'];
const HOSTS = ['https://cdn1.example', 'https://cdn2.example', 'https://cdn3.example'];
const UAS = ['Mozilla/5.0 A', 'Mozilla/5.0 B', 'Mozilla/5.0 C'];

interface Pick {
  doc: number;
  host: number;
  ua: number;
  /** -1: a native report (no page view) */
  page: number;
}

function violation(p: Pick, at: number): NormalizedViolation {
  const v: NormalizedViolation = {
    documentURL: DOCS[p.doc]!,
    blockedURL: `${HOSTS[p.host]}/x.png`,
    effectiveDirective: 'img-src',
    violatedDirective: 'img-src',
    disposition: 'enforce',
    stream: p.page < 0 ? 'reportUri' : 'sdk',
    occurredAt: at,
    receivedAt: at,
    count: 1,
    userAgent: UAS[p.ua]!,
    clientIp: '203.0.113.0',
    category: 'external',
    severity: 'medium',
  };
  if (p.page >= 0) v.page = { id: `pv${p.page}`, url: DOCS[p.doc]! };
  return v;
}

const pick = fc.record({ doc: fc.nat(DOCS.length - 1), host: fc.nat(HOSTS.length - 1), ua: fc.nat(UAS.length - 1), page: fc.integer({ min: -1, max: 4 }) });

/** Distinct values per group, keyed by the group each violation was stored in. */
function expected(stored: { groupId: string; p: Pick }[]) {
  const sets = new Map<string, { documents: Set<number>; pageViews: Set<number>; userAgents: Set<number>; nativeOnly: number }>();
  for (const { groupId, p } of stored) {
    let s = sets.get(groupId);
    if (!s) sets.set(groupId, (s = { documents: new Set(), pageViews: new Set(), userAgents: new Set(), nativeOnly: 0 }));
    s.documents.add(p.doc);
    if (p.page >= 0) s.pageViews.add(p.page);
    s.userAgents.add(p.ua);
  }
  return sets;
}

describe('group reach', () => {
  it('counts distinct documents, page views and user agents per group, however reports are batched and interleaved', () => {
    fc.assert(
      fc.property(fc.array(fc.array(pick, { minLength: 1, maxLength: 8 }), { minLength: 1, maxLength: 25 }), fc.integer({ min: 2, max: 40 }), (batches, maxRecords) => {
        const state = createState(emptyData(), { maxRecords });
        const stored: { groupId: string; p: Pick }[] = [];
        let at = T0;
        for (const batch of batches) {
          const out = state.ingest({ violations: batch.map((p) => violation(p, (at += 1000))), otherReports: {}, invalid: 0 });
          out.stored.forEach((s, i) => stored.push({ groupId: s.group.id, p: batch[i]! }));
        }
        const want = expected(stored);
        for (const [gid, s] of want) {
          const g = state.data.groups[gid]!;
          expect(g.reach.documents, `documents of ${gid}`).toBe(s.documents.size);
          expect(g.reach.userAgents, `user agents of ${gid}`).toBe(s.userAgents.size);
          // Page views: the SDK's page ids, plus the live native-only records (a page view each).
          expect(state.data.reach[gid]!.pageViews.length, `page views of ${gid}`).toBe(s.pageViews.size);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('counts a value again in a group whose reach sets were rebuilt (regrouping), and not twice in one that was not', () => {
    const state = createState(emptyData(), { maxRecords: 100 });
    const p: Pick = { doc: 0, host: 0, ua: 0, page: 0 };
    const first = state.ingest({ violations: [violation(p, T0)], otherReports: {}, invalid: 0 }).stored[0]!.group.id;
    // The same document, page view and user agent in another group, then back in the first.
    state.ingest({ violations: [violation({ ...p, host: 1 }, T0 + 1)], otherReports: {}, invalid: 0 });
    state.ingest({ violations: [violation(p, T0 + 2)], otherReports: {}, invalid: 0 });
    expect(state.data.groups[first]!.reach).toEqual({ documents: 1, pageViews: 1, userAgents: 1 });
    // Reach sets replaced by new (empty) arrays, as a rebuild of the book would: the next report of
    // the same values is counted in them.
    state.data.reach[first] = { documents: [], pageViews: [], userAgents: [], nativeOnly: 0 };
    state.ingest({ violations: [violation(p, T0 + 3)], otherReports: {}, invalid: 0 });
    expect(state.data.reach[first]!.documents).toHaveLength(1);
    expect(state.data.reach[first]!.pageViews).toHaveLength(1);
    expect(state.data.reach[first]!.userAgents).toHaveLength(1);
  });
});
