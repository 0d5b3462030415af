import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import Koa from 'koa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createReceiver, openFileStore, type Store } from '../../packages/receiver/src/index.js';
import type { GroupBreakdown, GroupPage, ViolationGroup } from '@csp-lens/schema';
import { TOKEN, startTestServer, tempDir, type TestServer } from '../helpers/server.js';
import { reportUriBody } from '../helpers/bodies.js';

// POST /api/groups/<id>/state and the read API around triage: the token, strict validation with a
// JSON error for every mistake, 404 for an unknown group, and what the lists show after.

let t: TestServer;
let now = Date.UTC(2027, 0, 4, 12, 0, 0);
let group: ViolationGroup;

beforeAll(async () => {
  t = await startTestServer({ clock: () => now });
  for (const tag of ['a', 'b']) {
    const { body } = reportUriBody(tag);
    const res = await t.post('/report', body, 'application/csp-report');
    if (res.status !== 204) throw new Error(`seed: ${res.status}`);
  }
  group = ((await (await t.api('/groups')).json()) as GroupPage).items[0]!;
});
afterAll(() => t?.close());

const post = (id: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(`${t.url}/api/groups/${encodeURIComponent(id)}/state`, {
    method: 'POST',
    body: typeof body === 'string' ? body : JSON.stringify(body),
    headers: { authorization: `Bearer ${t.token}`, 'content-type': 'application/json', ...headers },
  });
const json = async <T>(res: Response) => (await res.json()) as T;
const groupsWith = async (q = '') => (await json<GroupPage>(await t.api(`/groups${q}`))).items.map((g) => g.id);

describe('POST /api/groups/<id>/state', () => {
  it('needs the read token: none or a wrong one is 401 and changes nothing', async () => {
    expect((await post(group.id, { status: 'ignored' }, { authorization: '' })).status).toBe(401);
    expect((await post(group.id, { status: 'ignored' }, { authorization: 'Bearer wrong-token-0123456789' })).status).toBe(401);
    expect(await groupsWith()).toEqual([group.id]);
  });

  const BAD: [string, unknown, number, RegExp][] = [
    ['not JSON', '{"status":', 400, /not JSON/],
    ['an array', [], 400, /JSON object/],
    ['no status', {}, 400, /status must be one of open, resolved, ignored/],
    ['an unknown status', { status: 'done' }, 400, /status must be one of/],
    ['an unknown field', { status: 'open', who: 'x' }, 400, /unknown field "who"/],
    ['a release on an ignore', { status: 'ignored', release: '1.0' }, 400, /release goes with status resolved/],
    ['until on a resolve', { status: 'resolved', until: Date.now() + 1e6 }, 400, /until goes with status ignored/],
    ['until in the past', { status: 'ignored', until: '2020-01-01T00:00:00Z' }, 400, /until must be in the future/],
    ['until not a time', { status: 'ignored', until: 'tomorrow' }, 400, /until must be a time/],
    ['until and occurrences', { status: 'ignored', until: Date.UTC(2030, 0, 1), occurrences: 3 }, 400, /not both/],
    ['zero occurrences', { status: 'ignored', occurrences: 0 }, 400, /occurrences must be an integer from 1/],
    ['fractional occurrences', { status: 'ignored', occurrences: 1.5 }, 400, /occurrences must be an integer/],
    ['occurrences as a string', { status: 'ignored', occurrences: '3' }, 400, /occurrences must be an integer/],
    ['by not a string', { status: 'open', by: 7 }, 400, /by must be a string/],
    ['by too long', { status: 'open', by: 'x'.repeat(101) }, 400, /by must be at most 100 characters/],
    ['a note too long', { status: 'open', note: 'x'.repeat(1001) }, 400, /note must be at most 1000/],
    ['a body over 8 KiB', { status: 'open', note: 'x'.repeat(9000) }, 413, /size limit/],
  ];
  for (const [what, body, status, message] of BAD) {
    it(`${what} → ${status} with a JSON error, and nothing changes`, async () => {
      const res = await post(group.id, body);
      expect(res.status).toBe(status);
      expect((await json<{ error: string }>(res)).error).toMatch(message);
      expect((await json<{ group: ViolationGroup }>(await t.api(`/groups/${group.id}`))).group.triage).toBeUndefined();
    });
  }

  it('another content type → 415', async () => {
    const res = await post(group.id, { status: 'open' }, { 'content-type': 'text/plain' });
    expect(res.status).toBe(415);
    expect((await json<{ error: string }>(res)).error).toMatch(/application\/json/);
  });

  it('an unknown group → 404, a hostile id too', async () => {
    for (const id of ['g0000000000000000', '../../stats', 'x'.repeat(5000), '__proto__', 'constructor']) {
      const res = await post(id, { status: 'resolved' });
      expect(res.status, id.slice(0, 20)).toBe(404);
      expect(await json(res)).toEqual({ error: 'no such group' });
    }
  });

  it('resolves, then ignores for a time, with the server time and the free text cleaned', async () => {
    const res = await post(group.id, { status: 'resolved', release: ' 2026.11.3 ', by: 'al\u0000ice\u0007 \u202e', note: 'line one\nline two' });
    expect(res.status).toBe(200);
    const { group: g } = await json<{ group: ViolationGroup }>(res);
    expect(g.triage).toEqual({ status: 'resolved', at: now, release: '2026.11.3', by: 'alice\ufffd \u202e', note: 'line one\nline two' });
    expect(await groupsWith('?status=resolved')).toEqual([group.id]);
    expect(await groupsWith()).toEqual([group.id]);

    const until = now + 3_600_000;
    expect((await post(group.id, { status: 'ignored', until: new Date(until).toISOString() })).status).toBe(200);
    expect(await groupsWith()).toEqual([]);
    expect(await groupsWith('?status=ignored')).toEqual([group.id]);
    expect(await groupsWith('?status=all')).toEqual([group.id]);
    // Still counted: the stats do not know about triage.
    expect((await t.stats()).records).toBe(2);
    now = until;
    expect(await groupsWith()).toEqual([group.id]);
    const { group: back } = await json<{ group: ViolationGroup }>(await t.api(`/groups/${group.id}`));
    expect(back.triage).toMatchObject({ status: 'open', reopened: { reason: 'ignore-expired', at: until } });
    expect((await post(group.id, { status: 'open', by: 'bob' })).status).toBe(200);
  });
});

describe('the read API around triage', () => {
  it('answers 400 for a bad status, newSince or an overlong search', async () => {
    for (const [q, message] of [
      ['/groups?status=closed', /status must be one of open, resolved, ignored, regression, all/],
      ['/groups?newSince=yesterday', /newSince must be a time/],
      [`/groups?q=${'x'.repeat(201)}`, /q must be at most 200 characters/],
      [`/violations?q=${'x'.repeat(201)}`, /q must be at most 200 characters/],
    ] as const) {
      const res = await t.api(q);
      expect(res.status, q).toBe(400);
      expect((await json<{ error: string }>(res)).error).toMatch(message);
    }
  });

  it('counts a group by document, browser, release, stream and disposition, and 404s an unknown one', async () => {
    const res = await t.api(`/groups/${group.id}/breakdown`);
    expect(res.status).toBe(200);
    const b = await json<GroupBreakdown>(res);
    expect(b.records).toBe(2);
    expect(b.streams).toEqual([{ value: 'report-uri', records: 2, count: 2 }]);
    expect(b.releases).toEqual([{ value: '(none)', records: 2, count: 2 }]);
    expect((await t.api('/groups/g_nope/breakdown')).status).toBe(404);
  });

  it('explains severities: the built-in rules and this receiver’s own', async () => {
    const res = await t.api('/severity');
    const body = await json<{ rules: { severity: string; when: string; why: string }[]; overrides: Record<string, string> }>(res);
    expect(body.rules.map((r) => r.severity)).toEqual(['critical', 'critical', 'high', 'high', 'medium', 'low']);
    expect(body.rules[1]).toMatchObject({ when: 'connect-src to another origin', why: expect.stringMatching(/exfiltration/) });
    expect(body.overrides).toEqual({});
    expect((await t.api('/severity', {})).status).toBe(401);
  });
});

describe('a store that cannot write', () => {
  it('answers a triage change 503 with a JSON error, as it answers a report', async () => {
    const { dir, remove } = await tempDir();
    const store = await openFileStore({ path: join(dir, 'db.json') });
    const full: Store = { ...store, setGroupState: () => Promise.reject(new Error('ENOSPC: no space left on device')) };
    const app = new Koa();
    app.silent = true;
    app.use(createReceiver({ store: full, token: TOKEN, rateLimit: 0 }).middleware());
    const server = app.listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/csp`;
      const res = await fetch(`${url}/api/groups/g0000000000000000/state`, { method: 'POST', body: '{"status":"resolved"}', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' } });
      expect(res.status).toBe(503);
      expect(await res.json()).toEqual({ error: 'storage unavailable; retry later' });
    } finally {
      server.close();
      await store.close();
      await remove();
    }
  });
});
