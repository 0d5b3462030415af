import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import Koa from 'koa';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createReceiver, openFileStore, type Store, type StoredViolation } from '../../packages/receiver/src/index.js';
import { HEALTH_HOLD_MS } from '../../packages/receiver/src/store/health.js';
import { TOKEN, tempDir } from '../helpers/server.js';
import { reportUriBody } from '../helpers/bodies.js';

// The receiver as a library: mounted in someone else's Koa app, beside that app's own routes.
describe('createReceiver mounted in a Koa app', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let store: Store;
  let close: () => Promise<void>;
  let base: string;
  let now: number;
  /** Set to make every store write fail, as a full disk does. */
  let broken: Error | undefined;
  const stored: StoredViolation[][] = [];

  beforeEach(async () => {
    tmp = await tempDir();
    store = await openFileStore({ path: join(tmp.dir, 'db.json') });
    broken = undefined;
    stored.length = 0;
    now = Date.now();
    const flaky: Store = { ...store, append: (batch, filtered) => (broken ? Promise.reject(broken) : store.append(batch, filtered)) };
    const receiver = createReceiver({ store: flaky, token: TOKEN, rateLimit: 0, clock: () => now, onStored: (v) => stored.push(v) });
    const app = new Koa();
    app.silent = true; // the failed writes below are reported through app 'error'; keep the output clean
    app.use(receiver.middleware());
    app.use((ctx) => {
      ctx.body = { app: 'own route', path: ctx.path };
    });
    const server = app.listen(0, '127.0.0.1');
    await once(server, 'listening');
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    close = async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      await store.close();
      await tmp.remove();
    };
  });
  afterEach(() => close());

  const report = (body: string) => fetch(`${base}/csp/report`, { method: 'POST', body, headers: { 'content-type': 'application/csp-report' } });
  const health = async () => {
    const res = await fetch(`${base}/csp/health`);
    return { status: res.status, body: await res.json(), cache: res.headers.get('cache-control') };
  };
  const documents = async () => {
    const res = await fetch(`${base}/csp/api/violations?limit=500`, { headers: { authorization: `Bearer ${TOKEN}` } });
    return ((await res.json()) as { items: { documentURL: string }[] }).items.map((r) => r.documentURL);
  };

  it('serves its routes under the prefix and leaves every other path to the app', async () => {
    const { body, document } = reportUriBody('embed');
    expect((await report(body)).status).toBe(204);
    expect(await documents()).toEqual([document]);
    expect(await (await fetch(`${base}/elsewhere`)).json()).toEqual({ app: 'own route', path: '/elsewhere' });
    expect(await (await fetch(`${base}/cspx/report`)).json()).toEqual({ app: 'own route', path: '/cspx/report' });
    expect(await health()).toEqual({ status: 200, body: { status: 'ok' }, cache: 'no-store' });
  });

  it('refuses options it cannot honour at creation, naming them', () => {
    expect(() => createReceiver({ store, bodyLimit: '1zb' })).toThrow('csp-lens: bodyLimit must be a size like 512kb, 1mb or a byte count > 0, got "1zb"');
    expect(() => createReceiver({ store, bodyLimit: '1mb', maxBodyMemory: '512kb' })).toThrow('csp-lens: maxBodyMemory must be a size of at least bodyLimit (1048576 bytes), got "512kb"');
    expect(() => createReceiver({ store, ipv6Prefix: 0 })).toThrow('csp-lens: ipv6Prefix must be an integer from 1 to 128, got 0');
    // A body limit above the default body memory raises that memory with it.
    expect(() => createReceiver({ store, bodyLimit: '100mb' })).not.toThrow();
  });

  it('answers 503 when the store cannot write, acknowledges nothing, says so on /health, and recovers', async () => {
    broken = new Error('ENOSPC: no space left on device');
    const lost = reportUriBody('full');
    const res = await report(lost.body);
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({ error: 'storage unavailable; retry later' });
    // No alert or stream for what was not stored, and nothing of it in the store.
    expect(stored).toEqual([]);
    expect(await documents()).toEqual([]);
    const failing = await health();
    expect(failing.status).toBe(503);
    expect(failing.body).toMatchObject({ status: 'failing' });
    expect(JSON.stringify(failing.body)).not.toContain('ENOSPC'); // no internals to an unauthenticated caller

    // A probe that took the instance out of rotation gets it back after a while, to try again.
    now += HEALTH_HOLD_MS;
    expect((await health()).status).toBe(200);
    now -= HEALTH_HOLD_MS;
    expect((await health()).status).toBe(503);

    broken = undefined;
    const kept = reportUriBody('fixed');
    expect((await report(kept.body)).status).toBe(204);
    expect(await health()).toMatchObject({ status: 200, body: { status: 'ok' } });
    expect(await documents()).toEqual([kept.document]);
    expect(stored.flat().map((s) => s.violation.documentURL)).toEqual([kept.document]);
  });
});
