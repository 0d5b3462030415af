import type Koa from 'koa';
import type Router from '@koa/router';
import type { GroupAdvice, PolicyProposal, ViolationGroup, ViolationRecord } from '@csp-lens/schema';
import type { Store } from '../core/types.js';
import { ClientError } from '../core/errors.js';
import { adviseGroup } from '../core/advice.js';
import { clientsOf, pageEvidence, SETTLE_MS } from '../core/judge.js';
import { createProposal } from '../core/proposal.js';
import { assemble } from '../core/proposal-header.js';

/** Records a proposal reads at most (pages of 500): past it, `scanCapped`. */
export const MAX_SCAN = 20_000;
const PAGE = 500;
const MAX_OTHER_POLICIES = 20;
const GROUP = 'csp-lens';

/**
 * The group's advice, with the evidence the store can give: its clients, and whether the page of an
 * inline script had been seen before it (one bounded read per document, three documents at most).
 */
export async function groupAdvice(store: Store, found: { group: ViolationGroup; records: ViolationRecord[]; policy?: string }): Promise<GroupAdvice> {
  const { group, records } = found;
  let earlier: ViolationRecord | undefined;
  if (group.category === 'inline' && /^script-src/.test(group.effectiveDirective)) {
    for (const doc of [...new Set(records.map((r) => r.documentURL))].slice(0, 3)) {
      const page = await store.violations({ document: doc, until: group.firstSeen - SETTLE_MS, limit: 1 });
      if (page.items[0]) {
        earlier = page.items[0];
        break;
      }
    }
  }
  return adviseGroup(group, records, found.policy, { clients: clientsOf(records), ...pageEvidence(records, earlier) });
}

const time = (name: string, v: unknown): number | undefined => {
  if (v === undefined || v === '') return undefined;
  if (typeof v !== 'string') throw new ClientError(400, `${name} may be given once`);
  const n = /^\d+$/.test(v) ? Number(v) : Date.parse(v);
  if (!Number.isFinite(n)) throw new ClientError(400, `${name} must be a time in ms since the epoch or an ISO date`);
  return n;
};

/** Where this receiver takes reports, as the request reached it; a Host that makes no clean URL gives a path. */
function endpointOf(ctx: Koa.Context, prefix: string): PolicyProposal['endpoint'] {
  // Koa 3's ctx.origin is the Origin request header: the receiver's own is protocol and Host.
  const url = `${ctx.protocol}://${ctx.host}${prefix}/report`;
  const clean = URL.canParse(url) && !/[\s;,'"\\]|[^\x21-\x7e]/.test(url);
  if (!clean) return { reportUri: `${prefix}/report` };
  return url.startsWith('https://') ? { reportUri: url, reportTo: { group: GROUP, url } } : { reportUri: url };
}

/** `GET {prefix}/api/policy/proposal?from=&to=&disposition=report|all&policy=<hash>` (token checked by `auth`). */
export function mountPolicyApi(router: Router, store: Store, auth: Koa.Middleware): void {
  router.get('/api/policy/proposal', auth, async (ctx) => {
    const q = ctx.query;
    const from = time('from', q.from);
    const to = time('to', q.to);
    const disposition = q.disposition ?? 'report';
    if (disposition !== 'report' && disposition !== 'all') throw new ClientError(400, 'disposition must be report or all');
    if (q.policy !== undefined && (typeof q.policy !== 'string' || !/^[\w-]{1,128}$/.test(q.policy))) throw new ClientError(400, 'policy must be a policy hash');
    let base = typeof q.policy === 'string' ? { hash: q.policy, policy: await store.policy(q.policy) } : undefined;
    if (base && base.policy === undefined) throw new ClientError(400, 'no such policy');
    const prefix = ctx.path.slice(0, -'/api/policy/proposal'.length);
    let builder: ReturnType<typeof createProposal> | undefined;
    const others = new Map<string, number>();
    let scanned = 0;
    let cursor: string | undefined;
    do {
      const page = await store.violations({ since: from, until: to, disposition: disposition === 'report' ? 'report' : undefined, limit: PAGE, cursor });
      for (const r of page.items) {
        scanned++;
        // The most recent policy violated is the one the site sends now: the proposal starts there.
        if (!base && r.policyHash) base = { hash: r.policyHash, policy: await store.policy(r.policyHash) };
        if (!base || r.policyHash !== base.hash) {
          const key = r.policyHash ?? '';
          if (others.has(key) || others.size < MAX_OTHER_POLICIES) others.set(key, (others.get(key) ?? 0) + 1);
          continue;
        }
        (builder ??= createProposal(base.policy)).add(r);
      }
      cursor = page.next;
    } while (cursor && scanned < MAX_SCAN);
    const parts = (builder ?? createProposal(base?.policy)).finish();
    const endpoint = endpointOf(ctx, prefix);
    const body: PolicyProposal = {
      ...(from !== undefined ? { from } : {}),
      ...(to !== undefined ? { to } : {}),
      disposition,
      ...(base?.policy !== undefined ? { base: { hash: base.hash, policy: base.policy } } : {}),
      otherPolicies: [...others].map(([hash, records]) => ({ hash, records })).sort((a, b) => b.records - a.records),
      scanned,
      ...(cursor ? { scanCapped: true } : {}),
      ...parts,
      endpoint,
      ...assemble(base?.policy, parts.directives, endpoint),
    };
    ctx.body = body;
  });
}
