import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Koa from 'koa';
import Router from '@koa/router';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { DASHBOARD_CSP, mountDashboard } from '../../packages/receiver/src/dashboard/server.js';
import { visible } from '../../packages/receiver/src/dashboard/client/dom.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

// Runs against the built client (dist/dashboard): `npm test` builds first.
let t: TestServer;
const page = () => t.url.replace(/\/csp$/, '/csp/dashboard');

beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => {
  await t?.close();
});

describe('dashboard page', () => {
  it('serves the HTML without a token, under a strict CSP of its own', async () => {
    const res = await fetch(page());
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    const csp = res.headers.get('content-security-policy') ?? '';
    expect(csp).toBe(DASHBOARD_CSP);
    for (const d of ["default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'", "frame-ancestors 'none'", "base-uri 'none'", "form-action 'none'"]) {
      expect(csp).toContain(d);
    }
    expect(csp).not.toContain('unsafe');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('referrer-policy')).toBe('no-referrer');
    const html = await res.text();
    expect(html).toContain('<script src="dashboard/app.js" defer></script>');
    expect(html).toContain('<link rel="stylesheet" href="dashboard/app.css">');
    // Nothing inline: no script bodies, style elements, style attributes or handlers.
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>|<style|\sstyle=|\son[a-z]+=/i);
  });

  it('serves the script and stylesheet with their types and nosniff', async () => {
    for (const [path, type] of [['app.js', 'application/javascript'], ['app.css', 'text/css']]) {
      const res = await fetch(`${page()}/${path}`);
      expect(res.status, path).toBe(200);
      expect(res.headers.get('content-type')).toContain(type);
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect((await res.arrayBuffer()).byteLength).toBeGreaterThan(1000);
    }
  });

  it('revalidates the assets with an ETag', async () => {
    const first = await fetch(`${page()}/app.js`);
    const etag = first.headers.get('etag');
    expect(etag).toBeTruthy();
    // fetch() adds `cache-control: no-cache` to a conditional request unless one is given.
    const again = await fetch(`${page()}/app.js`, { headers: { 'if-none-match': etag!, 'cache-control': 'max-age=0' } });
    expect(again.status).toBe(304);
  });

  it('redirects a trailing slash so the relative asset links still resolve', async () => {
    const res = await fetch(`${page()}/?severity=high`, { redirect: 'manual' });
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toBe('/csp/dashboard?severity=high');
  });

  it('keeps the data behind the token', async () => {
    expect((await t.api('/groups', {})).status).toBe(401);
    expect((await t.api('/groups')).status).toBe(200);
  });
});

describe('mountDashboard', () => {
  let dir: string;
  let server: Server;
  let base: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'csp-lens-dash-'));
    await writeFile(join(dir, 'index.html'), '<!doctype html><title>x</title>');
    const router = new Router({ prefix: '/p' });
    mountDashboard(router, { prefix: '/p', dir: `${dir}/` });
    const app = new Koa();
    app.use(router.routes());
    server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/p`;
  });
  afterAll(async () => {
    await new Promise((r) => server.close(r));
    await rm(dir, { recursive: true, force: true });
  });

  it('serves from the given directory and answers 503 with a hint for a missing build', async () => {
    expect(await (await fetch(`${base}/dashboard`)).text()).toContain('<title>x</title>');
    const res = await fetch(`${base}/dashboard/app.js`);
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({ error: 'the dashboard is not built: run npm run build' });
  });
});

describe('visible', () => {
  const code = (cp: number) => (cp > 0xffff ? `\\u{${cp.toString(16)}}` : `\\u${cp.toString(16).padStart(4, '0')}`);

  it('shows the characters issue 12 found passing through as their codes', () => {
    expect(visible('a\u061cb\u2028c\u2029d\u00ade')).toBe('a\\u061cb\\u2028c\\u2029d\\u00ade');
  });

  // Every code point of the categories, not a list: a new format character in a later Unicode
  // version is covered when the engine's tables are.
  it('escapes every control, format, line/paragraph separator and surrogate code point, tab and newline aside', () => {
    const category = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}\p{Bidi_Control}\p{Default_Ignorable_Code_Point}]/u;
    const missed: string[] = [];
    let checked = 0;
    for (let cp = 0; cp <= 0x10ffff; cp++) {
      const c = String.fromCodePoint(cp);
      if (!category.test(c) || c === '\t' || c === '\n') continue;
      checked++;
      if (visible(`x${c}y`) !== `x${code(cp)}y`) missed.push(code(cp));
    }
    expect(checked).toBeGreaterThan(6000);
    expect(missed).toEqual([]);
    expect(visible('tab\tand\nnewline')).toBe('tab\tand\nnewline');
  });

  it('leaves ordinary text alone: letters, marks, spaces, CJK, emoji, a typed backslash-u', () => {
    for (const s of ['https://shop.example/ä?q=日本語 &x=1', 'é (e + U+0301)', 'a\u00a0b\u3000c', '🙂👍', '\\u202e typed by hand']) expect(visible(s)).toBe(s);
  });
});
