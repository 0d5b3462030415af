import type { GroupTriage, ViolationGroup } from '@csp-lens/schema';
import { expect } from 'vitest';

// What the old groups of the grouping-1 fixtures (file and PostgreSQL: the same group ids) carry
// besides their totals, set by the tests before the store regroups them: triage states and first
// releases, and what the groups the current rule makes of them must carry then.

/** Old Firefox's "self" group: it splits into /account (its example) and /cart. */
export const SELF_GROUP = 'gedb248c3801f8529';
/** Two of the 40 product groups that become one. */
export const PRODUCT_GROUPS = ['g370528a2c5f46a6e', 'gc505b8338891b065'] as const;
/** The external img-src group: kept as it is. */
export const KEPT_GROUP = 'geaa796fdbbc3565d';

export const OLD_STATE: Record<string, { triage: GroupTriage; firstRelease?: string; firstReleaseAt?: number }> = {
  [SELF_GROUP]: { triage: { status: 'resolved', at: 1_700_000_000_000, by: 'ana', release: '2.3' }, firstRelease: 'v-self', firstReleaseAt: 1_600_000_000_000 },
  // Where the old groups differ, the change made last wins.
  [PRODUCT_GROUPS[0]]: { triage: { status: 'resolved', at: 1_700_000_000_000 }, firstRelease: 'r-b', firstReleaseAt: 1_600_000_000_500 },
  [PRODUCT_GROUPS[1]]: { triage: { status: 'ignored', at: 1_700_000_100_000, note: 'third-party widget' }, firstRelease: 'r-a', firstReleaseAt: 1_600_000_000_400 },
  [KEPT_GROUP]: { triage: { status: 'ignored', at: 1_700_000_000_000, occurrences: 10, untilCount: 11 } },
};

/** The regrouped groups carry what the old ones they were made of did. */
export function expectCarried(groups: ViolationGroup[]): void {
  const named = (sourceFile: string) => groups.find((g) => g.sourceFile === sourceFile)!;
  // Both halves of the split group were resolved together.
  for (const half of [named('//shop.example/account'), named('//shop.example/cart')]) {
    expect(half.triage, half.sourceFile).toMatchObject({ status: 'resolved', by: 'ana', release: '2.3' });
  }
  expect(named('//shop.example/account')).toMatchObject({ firstRelease: 'v-self', firstReleaseAt: 1_600_000_000_000 });
  const product = named("//shop.example/product/:id");
  expect(product.triage).toMatchObject({ status: 'ignored', note: 'third-party widget' });
  expect(product).toMatchObject({ firstRelease: 'r-a', firstReleaseAt: 1_600_000_000_400 });
  // Made of groups nobody triaged: open.
  expect(named('//127.0.0.1/p').triage).toBeUndefined();
  expect(groups.find((g) => g.id === KEPT_GROUP)!.triage).toMatchObject({ status: 'ignored', untilCount: 11 });
}
