import type { Stats } from '@csp-lens/schema';
import type { GroupQuery, Store, ViolationQuery } from '../../packages/receiver/src/core/types.js';
import { T0 } from './violations.js';
import { allPages, readStore } from './records.js';

/** Everything the read API can ask a store, as plain JSON (the file store's objects are live). */
export async function snapshot(store: Store) {
  const pages = await allPages(readStore(store, 7));
  const filters: ViolationQuery[] = [
    { source: 'sdk' }, { source: 'reportUri' }, { source: 'reportTo' }, { directive: 'img-src' }, { disposition: 'report' },
    { severity: 'high' }, { since: T0 + 5_000, until: T0 + 15_000 }, { document: 'https://s.test/a' },
    { coverage: 'merged' }, { coverage: 'sdk-only' }, { coverage: 'native-only' }, { directive: 'img-src', coverage: 'sdk-only', since: T0 + 5_000 },
  ];
  const filtered = await Promise.all(filters.map((q) => store.violations({ ...q, limit: 500 })));
  const filteredStats = await Promise.all(filters.map((q) => store.stats(q).then(common)));
  const groups = {} as Record<NonNullable<GroupQuery['sort']>, Awaited<ReturnType<Store['groups']>>>;
  for (const sort of ['lastSeen', 'count', 'reach', 'severity'] as const) groups[sort] = await store.groups({ sort, limit: 500 });
  const coverage = await Promise.all((['merged', 'sdk-only', 'native-only'] as const).map((c) => store.groups({ coverage: c, limit: 2 })));
  const onDocument = await store.groups({ document: 'https://s.test/a', limit: 500 });
  const details = await Promise.all(groups.severity.items.map((g) => store.group(g.id)));
  const records = pages.flatMap((p) => p.items);
  const hashes = [...new Set(records.flatMap((r) => (r.policyHash ? [r.policyHash] : [])))].sort();
  const policies = await Promise.all(hashes.map((h) => store.policy(h)));
  const stats = common(await store.stats({}));
  const window = common(await store.stats({ since: T0 + 5_000, until: T0 + 15_000 }));
  return JSON.parse(JSON.stringify({ pages, filtered, filteredStats, groups, coverage, onDocument, details, policies, stats, window, missing: await store.group('g_nope') ?? null })) as {
    pages: Awaited<ReturnType<Store['violations']>>[];
    groups: typeof groups;
    stats: Omit<Stats, 'limits'>;
  } & Record<string, unknown>;
}

/**
 * Stats without `limits`: how many bytes the live content takes, and the bounds the stores keep it
 * within, are each store's own (the file store's live file, PostgreSQL's tables).
 */
function common(stats: Stats): Omit<Stats, 'limits'> {
  const { limits: _limits, ...rest } = stats;
  return rest;
}

export { messages, violation } from './violations.js';
