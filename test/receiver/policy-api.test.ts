import { afterEach, describe, expect, it } from 'vitest';
import Koa from 'koa';
import type { GroupAdvice, PolicyProposal, ProposedDirective, ViolationGroup } from '@csp-lens/schema';
import { cspHeader } from '../../packages/receiver/src/http/csp-header.js';
import { parsePolicy } from '../../packages/receiver/src/core/csp-policy.js';
import { isSourceExpression } from '../../packages/receiver/src/core/csp-source.js';
import { MAX_SOURCES } from '../../packages/receiver/src/core/proposal.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { replay, sha256, TEXT } from '../helpers/advice.js';

// The policy builder's endpoint and the group view's advice, over HTTP, fed with one real page view
// of Firefox ESR 153 (test/fixtures/firefox-153/wire/f_sdk_uri.json): its native reports and its SDK
// batch, the SDK's events given the hash this branch's SDK computes.

let servers: TestServer[] = [];
afterEach(async () => {
  for (const t of servers) await t.close();
  servers = [];
});
async function server(): Promise<TestServer> {
  const t = await startTestServer({ trustProxy: 1 });
  servers.push(t);
  return t;
}

async function proposal(t: TestServer, query = ''): Promise<PolicyProposal> {
  const res = await t.api(`/policy/proposal${query}`);
  expect(res.status, await res.clone().text()).toBe(200);
  return (await res.json()) as PolicyProposal;
}

const directive = (p: PolicyProposal, name: string): ProposedDirective => p.directives.find((d) => d.name === name)!;
const sources = (p: PolicyProposal, name: string) => directive(p, name)?.sources.map((s) => s.source);

describe('GET /api/policy/proposal', () => {
  it('refuses without the token, and bad parameters with a JSON error', async () => {
    const t = await server();
    expect((await t.api('/policy/proposal', {})).status).toBe(401);
    for (const [q, error] of [
      ['?from=yesterday', 'from must be a time in ms since the epoch or an ISO date'],
      ['?disposition=enforce', 'disposition must be report or all'],
      ['?policy=%27%3B', 'policy must be a policy hash'],
      ['?policy=abc', 'no such policy'],
      ['?to=1&to=2', 'to may be given once'],
    ]) {
      const res = await t.api(`/policy/proposal${q}`);
      expect(res.status, q).toBe(400);
      expect(await res.json()).toEqual({ error });
    }
  });

  it('proposes, per directive of the violated policy, each source with its count, reach and times', async () => {
    const t = await server();
    await replay(t);
    const all = await proposal(t, '?disposition=all');
    // The probe page's enforced policy, as the reports carried it (nonce redacted by the store).
    expect(all.base!.policy).toMatch(/^default-src 'self'; script-src 'self' 'nonce-…' 'report-sample';/);
    expect(sources(all, 'script-src')).toEqual(
      expect.arrayContaining([`'${sha256(TEXT['v-inline-script']!)}'`, `'${sha256(TEXT['v-onclick']!)}'`, 'https://127.0.0.1:8813/static/x.js']),
    );
    const handler = directive(all, 'script-src').sources.find((s) => s.source === `'${sha256(TEXT['v-onclick']!)}'`)!;
    expect(handler).toMatchObject({ requires: ["'unsafe-hashes'"], kind: 'hash', verdict: 'allow', selected: true, records: 1, documents: 1, clients: 1 });
    expect(handler.firstSeen).toBeLessThanOrEqual(handler.lastSeen);
    expect(sources(all, 'img-src')).toEqual(expect.arrayContaining(['https://127.0.0.1:8813', 'https://localhost:8813']));
    expect(sources(all, 'worker-src')).toEqual(['blob:']);
    expect(sources(all, 'connect-src')).toEqual(['https://127.0.0.1:8813/api/data']);
    // Nothing to add for eval (fixed in code) nor for the redirected image ('self' allows it already).
    expect(all.notes.map((n) => [n.directive, n.verdict])).toEqual(expect.arrayContaining([['script-src', 'fix-code'], ['img-src', 'investigate']]));
    expect(all.notes.find((n) => n.verdict === 'fix-code')!.locations!.length).toBeGreaterThanOrEqual(4);
    expect(all.rejected).toEqual({ count: 0, examples: [] });
    // The enforced page violated nothing report-only.
    expect((await proposal(t)).directives).toEqual([]);
  });

  it('outputs the selected sources as a header and as cspHeader() options that make the same policy', async () => {
    const t = await server();
    await replay(t);
    const p = await proposal(t, '?disposition=all');
    expect(p.endpoint).toEqual({ reportUri: `${t.url}/report` });
    // Split as a browser does (parsePolicy would drop the placeholder: it is no nonce until filled).
    const split = (text: string) => new Map(text.split('; ').map((d) => [d.split(' ')[0]!, d.split(' ').slice(1)]));
    const policy = split(p.header.policy);
    expect(p.header.enforce).toBe(`Content-Security-Policy: ${p.header.policy}`);
    expect(p.header.reportOnly).toBe(`Content-Security-Policy-Report-Only: ${p.header.policy}`);
    expect(p.header.policy).toMatch(new RegExp(`; report-uri ${t.url}/report$`));
    // The nonce stays a placeholder for the server to fill, and the hashes are in.
    expect(policy.get('script-src')).toEqual(expect.arrayContaining(["'self'", "'nonce-{NONCE}'", "'unsafe-hashes'", `'${sha256(TEXT['v-inline-script']!)}'`]));
    for (const [name, list] of policy) for (const s of list) expect(isSourceExpression(s) || s === "'nonce-{NONCE}'", `${name} ${s}`).toBe(true);
    // cspHeader() takes the options as they are, and sends the same policy with its own nonce.
    expect(p.cspHeader.nonce).toBe(true);
    const app = new Koa();
    app.use(cspHeader({ ...p.cspHeader, warn: () => {} }));
    app.use((ctx) => void (ctx.body = 'ok'));
    const site = app.listen(0, '127.0.0.1');
    await new Promise((r) => site.once('listening', r));
    try {
      const res = await fetch(`http://127.0.0.1:${(site.address() as { port: number }).port}/`);
      const sent = split(res.headers.get('content-security-policy')!.replace(/'nonce-[A-Za-z0-9+/=]+'/g, "'nonce-{NONCE}'"));
      expect(sent.get('script-src')).toContain("'nonce-{NONCE}'");
      // In any order, and cspHeader() puts its nonce into style-src as well.
      const plain = (m: Map<string, string[]>) => [...m].map(([k, v]) => [k, v.filter((x) => !x.startsWith("'nonce-")).sort()]);
      expect(plain(sent)).toEqual(plain(policy));
    } finally {
      site.close();
    }
  });

  it('unticks what should not be allowed without a look: a fetch to another site from one client', async () => {
    const t = await server();
    await replay(t, {
      mutate: (batch) => {
        for (const e of batch.events) if (e.effectiveDirective === 'connect-src') e.blockedURI = 'https://collect.evil.example/c?d=1';
      },
    });
    const p = await proposal(t, '?disposition=all');
    const exfil = directive(p, 'connect-src').sources.find((s) => s.source === 'https://collect.evil.example')!;
    expect(exfil).toMatchObject({ verdict: 'investigate', selected: false, clients: 1 });
    expect(p.header.policy).not.toContain('collect.evil.example');
  });

  it(`keeps ${MAX_SOURCES} sources per directive and says how many more there were`, async () => {
    const t = await server();
    const policy = "default-src 'self'; img-src 'self'; report-uri /csp/report";
    for (let i = 0; i < MAX_SOURCES + 7; i++) {
      const report = { 'document-uri': 'https://shop.example/p', 'effective-directive': 'img-src', 'violated-directive': 'img-src', 'original-policy': policy, disposition: 'report', 'blocked-uri': `https://cdn${i}.example/a.png` };
      expect((await t.post('/report', JSON.stringify({ 'csp-report': report }), 'application/csp-report')).status).toBe(204);
    }
    const p = await proposal(t);
    expect(directive(p, 'img-src').sources).toHaveLength(MAX_SOURCES);
    expect(directive(p, 'img-src').truncated).toBe(7);
  });

  it('never emits what a hostile report asks for: sources and policy tokens that are no source expression are refused and counted', async () => {
    const t = await server();
    // A policy text and blocked URLs an attacker wrote: each would end a directive, or the header.
    const policy = "img-src 'self' https://ok.example x;script-src\u000b* 'self'\"; script-src 'self'; report-uri /csp/report";
    // The URL parser takes each (a `;` or `"` in a host included): the source grammar must refuse them.
    const hostile = ['https://a;script-src/x.png', 'https://ev"il.example/', 'https://[::1]/x.png', 'https://exa_mple.example/'];
    // A valid origin with a hostile path: only the origin may come out.
    const blocked = [...hostile, "https://evil.example/it's a;,.png"];
    for (const b of blocked) {
      const report = { 'document-uri': 'https://x.example/p', 'effective-directive': 'img-src', 'violated-directive': 'img-src', 'original-policy': policy, disposition: 'report', 'blocked-uri': b };
      expect((await t.post('/report', JSON.stringify({ 'csp-report': report }), 'application/csp-report')).status).toBe(204);
    }
    // And SDK hashes that are not ours: a quote, a `;`, the wrong length, not canonical.
    const sdk = {
      v: 1,
      sentAt: Date.now(),
      page: { id: 'pv_x', url: 'https://x.example/p', policies: [policy] },
      events: ["sha256-x'; script-src *", `sha256-${'A'.repeat(43)}= `, `sha256-${'A'.repeat(42)}B=`, `sha384-${'A'.repeat(43)}=`, `sha256-${'A'.repeat(44)}=`].map((hash, i) => ({
        t: Date.now(), count: 1, documentURI: 'https://x.example/p', blockedURI: 'inline', effectiveDirective: 'script-src-elem', violatedDirective: 'script-src-elem',
        policy: 0, disposition: 'report', statusCode: 200, sourceFile: `https://x.example/${i}.js`, lineNumber: 1, columnNumber: 1, sample: '', referrer: '',
        element: { tag: 'script', selector: `script#s${i}`, hash },
      })),
    };
    expect((await t.post('/sdk', JSON.stringify(sdk), 'text/plain')).status).toBe(204);
    expect((await t.all()).filter((r) => r.element?.hash)).toEqual([]);
    const p = await proposal(t);
    const emitted = [p.header.policy, JSON.stringify(p.cspHeader)].join('\n');
    for (const bad of ['a;script-src', 'ev"il', "it's", ' a', '::1', 'exa_mple', '\u000b', '\ufffd', "sha256-x'", 'AAAAB=']) expect(emitted, bad).not.toContain(bad);
    expect(sources(p, 'img-src')).toEqual(['https://evil.example']);
    // `x` is a valid host-source (a host named x): the policy text's other tokens are refused.
    expect(parsePolicy(p.header.policy).directives.get('img-src')).toEqual(["'self'", 'https://ok.example', 'x', 'https://evil.example']);
    expect(p.header.policy.split(';').map((d) => d.trim().split(' ')[0])).toEqual(['img-src', 'script-src', 'report-uri']);
    // Each hostile host, and the directive whose name has a control character (with its tokens).
    expect(p.rejected.count).toBe(hostile.length + 1);
    for (const e of p.rejected.examples) expect(() => JSON.parse(e)).not.toThrow();
    // The cspHeader() options pass its own checks as they are.
    expect(() => cspHeader({ ...p.cspHeader, warn: () => {} })).not.toThrow();
  });
});

describe('GET /api/groups/<id>', () => {
  it('carries the advice for the group', async () => {
    const t = await server();
    await replay(t);
    const groups = ((await (await t.api('/groups?limit=500')).json()) as { items: ViolationGroup[] }).items;
    const inline = groups.find((g) => g.effectiveDirective === 'script-src-elem' && g.blocked === 'inline')!;
    const body = (await (await t.api(`/groups/${inline.id}`)).json()) as { advice: GroupAdvice };
    expect(body.advice).toMatchObject({ verdict: 'allow', directive: 'script-src', add: [`'${sha256(TEXT['v-inline-script']!)}'`], basedOn: { records: 1, of: 1 } });
  });
});
