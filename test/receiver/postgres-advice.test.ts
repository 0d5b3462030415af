import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GroupAdvice, PolicyProposal, ViolationGroup } from '@csp-lens/schema';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { type TestPostgres, startTestPostgres } from '../helpers/postgres.js';
import { replay } from '../helpers/advice.js';

// The policy builder and the group advice read through the Store interface only: the same page
// views into the file store and into PostgreSQL give the same proposal and the same advice.

let pg: TestPostgres;
beforeAll(async () => void (pg = await startTestPostgres()), 120_000);
afterAll(() => pg?.stop());

/** What does not depend on when the test ran. */
const timeless = (p: PolicyProposal) => ({
  ...p,
  base: p.base?.policy,
  endpoint: undefined,
  header: undefined,
  cspHeader: p.cspHeader.directives,
  directives: p.directives.map((d) => ({ ...d, sources: d.sources.map(({ firstSeen, lastSeen, groups, ...s }) => s) })),
  notes: p.notes.map(({ groups, ...n }) => n),
});

async function run(t: TestServer) {
  // Two clients: one page view each, the second sending its fetch to another site.
  await replay(t, { client: '198.51.100.7' });
  await replay(t, {
    client: '203.0.113.9',
    mutate: (batch) => {
      batch.page.id = 'pv_second';
      for (const e of batch.events) if (e.effectiveDirective === 'connect-src') e.blockedURI = 'https://collect.evil.example/c';
    },
  });
  const proposal = (await (await t.api('/policy/proposal?disposition=all')).json()) as PolicyProposal;
  const groups = ((await (await t.api('/groups?limit=500')).json()) as { items: ViolationGroup[] }).items;
  const advice: Record<string, GroupAdvice> = {};
  for (const g of groups) advice[`${g.effectiveDirective} ${g.blocked}`] = ((await (await t.api(`/groups/${g.id}`)).json()) as { advice: GroupAdvice }).advice;
  return { proposal: timeless(proposal), advice };
}

describe('advice and the policy builder on both stores', () => {
  it('PostgreSQL answers as the file store does', async () => {
    const file = await startTestServer({ trustProxy: 1 });
    const onFile = await run(file).finally(() => file.close());
    const db = await startTestServer({ trustProxy: 1, store: 'postgres', databaseUrl: await pg.createDatabase() });
    const onPg = await run(db).finally(() => db.close());
    expect(onFile.proposal.directives.length).toBeGreaterThan(5);
    expect(onFile.advice['connect-src https://collect.evil.example']!.verdict).toBe('investigate');
    expect(onPg).toEqual(onFile);
  });
});
