import { afterEach, describe, expect, it, vi } from 'vitest';
import type { ViolationGroup } from '@csp-lens/schema';
import { startTestServer, TOKEN, type TestServer } from '../helpers/server.js';
import { reportUriBody } from '../helpers/bodies.js';
import { jsonLines } from '../helpers/files.js';
import { join } from 'node:path';

// DELETE /api/violations and DELETE /api/groups/<id>: token-protected, only the filters they know,
// the counts answered, an audit line on stderr and in <db>.audit.jsonl.

let t: TestServer | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
  vi.restoreAllMocks();
});

/** DELETE `{url}/api{path}`, with the token unless `token` is another one or '' (none). */
const del = (path: string, token = TOKEN) => fetch(`${t!.url}/api${path}`, { method: 'DELETE', headers: token ? { authorization: `Bearer ${token}` } : {} });

async function post(overrides: Record<string, unknown> = {}): Promise<string> {
  const { body, document } = reportUriBody('e', overrides);
  const res = await t!.post('/report', body, 'application/csp-report');
  expect(res.status).toBe(204);
  return document;
}

describe('the erasure API', () => {
  it.each([
    { name: 'no token', path: '/violations?document=x', token: '', status: 401 },
    { name: 'a wrong token', path: '/violations?document=x', token: 'not-the-token-at-all', status: 401 },
    { name: 'no condition', path: '/violations', token: TOKEN, status: 400 },
    { name: 'an empty condition', path: '/violations?document=', token: TOKEN, status: 400 },
    { name: 'a filter it does not take', path: '/violations?directive=img-src', token: TOKEN, status: 400 },
    { name: 'a known and an unknown filter', path: '/violations?document=x&severity=high', token: TOKEN, status: 400 },
    { name: 'a bad time', path: '/violations?before=yesterday', token: TOKEN, status: 400 },
    { name: 'a filter given twice', path: '/violations?document=a&document=b', token: TOKEN, status: 400 },
  ])('$name → $status', async ({ path, token, status }) => {
    t = await startTestServer();
    const doc = await post();
    const res = await del(path, token);
    expect(res.status).toBe(status);
    expect(await res.json()).toEqual({ error: expect.any(String) });
    expect((await t.all()).map((r) => r.documentURL)).toEqual([doc]);
  });

  it('erases by document and answers how many went; an audit line goes to stderr and the audit file', async () => {
    t = await startTestServer();
    const logged: string[] = [];
    vi.spyOn(console, 'error').mockImplementation((m: unknown) => void logged.push(String(m)));
    const doc = await post();
    await post({ 'document-uri': doc, 'blocked-uri': 'https://other.example/x.png' });
    const kept = await post();
    const res = await del(`/violations?document=${encodeURIComponent(`${doc}#fragment`)}`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ deleted: 2, archived: 0 });
    expect((await t.all()).map((r) => r.documentURL)).toEqual([kept]);
    expect(logged).toEqual([expect.stringMatching(/^csp-lens: erased \{"document":.*at the request of 127\.0\.0\.1: 2 live, 0 archived/)]);
    expect(jsonLines(join(t.dir, 'db.audit.jsonl')).items).toEqual([expect.objectContaining({ action: 'erase', filter: { document: doc }, deleted: 2, by: '127.0.0.1' })]);
  });

  it.each(['truncate', 'hash', 'full'] as const)('erases by client given as the IP address itself (--ip-mode %s)', async (ipMode) => {
    t = await startTestServer({ ipMode, ipSalt: 'salt-for-this-test' });
    vi.spyOn(console, 'error').mockImplementation(() => {});
    await post();
    await post();
    const stored = (await t.all())[0].clientIp;
    expect(stored).toBeTruthy();
    expect(await (await del('/violations?client=198.51.100.7')).json()).toEqual({ deleted: 0, archived: 0 });
    expect(await (await del('/violations?client=127.0.0.1')).json()).toEqual({ deleted: 2, archived: 0 });
    await post();
    // Or as stored, as the read API shows it.
    expect(await (await del(`/violations?client=${encodeURIComponent(stored!)}`)).json()).toEqual({ deleted: 1, archived: 0 });
  });

  it('erases records older than a time, and a group whole', async () => {
    t = await startTestServer();
    vi.spyOn(console, 'error').mockImplementation(() => {});
    await post();
    await post({ 'blocked-uri': 'https://second.example/x.png' });
    const cut = Date.now() + 1;
    expect(await (await del(`/violations?before=${new Date(cut - 60_000).toISOString()}`)).json()).toEqual({ deleted: 0, archived: 0 });
    await post({ 'blocked-uri': 'https://second.example/y.png' });
    const groups = (await (await t.api('/groups')).json()).items as ViolationGroup[];
    const second = groups.find((g) => g.blocked === 'https://second.example')!;
    expect(second.records).toBe(2);
    const res = await del(`/groups/${second.id}`);
    expect(await res.json()).toEqual({ deleted: 2, archived: 0 });
    expect((await t.api(`/groups/${second.id}`)).status).toBe(404);
    expect((await (await t.api('/groups')).json()).items.map((g: ViolationGroup) => g.blocked)).toEqual(['https://tracker.example']);
    expect(await (await del(`/violations?before=${cut + 60_000}`)).json()).toEqual({ deleted: 1, archived: 0 });
    expect(await t.all()).toEqual([]);
  });
});
