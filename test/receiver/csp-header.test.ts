import { afterEach, describe, expect, it } from 'vitest';
import Koa from 'koa';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { cspHeader, type CspHeaderOptions } from '../../packages/receiver/src/csp-header.js';

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

/** A real Koa app on 127.0.0.1:0 that echoes the nonce it saw; `proxy` trusts X-Forwarded-Proto. */
async function serve(options: CspHeaderOptions) {
  const app = new Koa({ proxy: true });
  app.use(cspHeader(options));
  app.use((ctx) => {
    ctx.body = { nonce: ctx.state.cspNonce ?? null };
  });
  const server = createServer(app.callback());
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return async (path = '/', headers: Record<string, string> = {}) => {
    const res = await fetch(base + path, { headers });
    const body = (await res.json()) as { nonce: string | null };
    return { res, body, base };
  };
}

const https = { 'x-forwarded-proto': 'https' };
const directives = { 'default-src': ["'self'"], 'script-src': ["'self'", "'report-sample'"], 'style-src': "'self'" };

describe('cspHeader', () => {
  it('enforces the policy with a fresh nonce per request in script-src and style-src', async () => {
    const get = await serve({ directives });
    const a = await get();
    const b = await get();
    expect(a.body.nonce).toMatch(/^[A-Za-z0-9+/]{22}==$/);
    expect(b.body.nonce).not.toBe(a.body.nonce);
    expect(a.res.headers.get('content-security-policy')).toBe(
      `default-src 'self'; script-src 'self' 'report-sample' 'nonce-${a.body.nonce}'; style-src 'self' 'nonce-${a.body.nonce}'`,
    );
    expect(a.res.headers.get('content-security-policy-report-only')).toBeNull();
  });

  it('sends Content-Security-Policy-Report-Only when reportOnly is set', async () => {
    const get = await serve({ directives, reportOnly: true, reportUri: '/csp/report' });
    const { res } = await get();
    expect(res.headers.get('content-security-policy')).toBeNull();
    expect(res.headers.get('content-security-policy-report-only')).toMatch(/; report-uri \/csp\/report$/);
  });

  it('points report-uri and report-to at the receiver with a matching Reporting-Endpoints on https', async () => {
    const get = await serve({ directives, reportUri: '/csp/report', reportTo: { url: '/csp/report' } });
    const { res, base } = await get('/page', https);
    const origin = base.replace('http:', 'https:');
    expect(res.headers.get('content-security-policy')).toMatch(/; report-uri \/csp\/report; report-to csp-lens$/);
    expect(res.headers.get('reporting-endpoints')).toBe(`csp-lens="${origin}/csp/report"`);
  });

  it('keeps an absolute report-to endpoint and a custom group as given', async () => {
    const get = await serve({ directives, reportTo: { group: 'remote', url: 'https://r.example/csp/report' } });
    const { res } = await get('/', https);
    expect(res.headers.get('content-security-policy')).toMatch(/; report-to remote$/);
    expect(res.headers.get('reporting-endpoints')).toBe('remote="https://r.example/csp/report"');
  });

  it('falls back to report-uri only on http pages, where report-to would silence every report, and warns once', async () => {
    const warnings: string[] = [];
    const get = await serve({
      directives,
      reportUri: '/csp/report',
      reportTo: { url: '/csp/report' },
      warn: (m) => warnings.push(m),
    });
    const first = await get('/a');
    await get('/b');
    expect(first.res.headers.get('content-security-policy')).toMatch(/; report-uri \/csp\/report$/);
    expect(first.res.headers.get('content-security-policy')).not.toContain('report-to');
    expect(first.res.headers.get('reporting-endpoints')).toBeNull();
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^csp-lens: report-to cannot be delivered from the http page .*\/a/);
    // https responses of the same middleware still get report-to.
    const secure = await get('/c', https);
    expect(secure.res.headers.get('content-security-policy')).toContain('report-to csp-lens');
  });

  it('uses the report-to endpoint as report-uri on http when no reportUri is configured', async () => {
    const get = await serve({ directives, reportTo: { url: 'https://r.example/csp/report' }, warn: () => {} });
    const { res } = await get();
    expect(res.headers.get('content-security-policy')).toMatch(/; report-uri https:\/\/r\.example\/csp\/report$/);
  });

  it('adds no nonce when nonce is false', async () => {
    const get = await serve({ directives: { 'script-src': "'self'" }, nonce: false });
    const { res, body } = await get();
    expect(body.nonce).toBeNull();
    expect(res.headers.get('content-security-policy')).toBe("script-src 'self'");
  });

  it("derives script-src and style-src from default-src for the nonce, and replaces a lone 'none'", async () => {
    const get = await serve({ directives: { 'default-src': ["'none'"], 'upgrade-insecure-requests': true } });
    const { res, body } = await get();
    const n = `'nonce-${body.nonce}'`;
    expect(res.headers.get('content-security-policy')).toBe(
      `default-src 'none'; upgrade-insecure-requests; script-src ${n}; style-src ${n}`,
    );
  });

  it("warns that a nonce disables 'unsafe-inline'", () => {
    const warnings: string[] = [];
    cspHeader({ directives: { 'style-src': ["'self'", "'unsafe-inline'"] }, warn: (m) => warnings.push(m) });
    expect(warnings).toEqual([expect.stringMatching(/^csp-lens: .*'unsafe-inline' in style-src/)]);
  });

  it.each([
    [{ directives: {} }, /at least one directive/],
    [{ directives: null }, /must be an object/],
    [{ directives: { 'Script-Src': "'self'" } }, /not a directive name/],
    [{ directives: { 'script-src': "'self'; img-src *" } }, /invalid source/],
    [{ directives: { 'img-src': 42 } }, /string, an array of strings or true/],
    [{ directives: { 'report-uri': '/r' } }, /reportUri \/ reportTo options/],
    [{ directives, reportUri: 'csp/report' }, /reportUri must start with/],
    [{ directives, reportUri: '/a b' }, /reportUri must be a URL/],
    [{ directives, reportTo: { url: 'http://127.0.0.1:8080/csp/report' } }, /must be https/],
    [{ directives, reportTo: { group: 'CspLens', url: '/r' } }, /group "CspLens" must be lowercase/],
    [{ directives, reportTo: '/r' }, /reportTo must be \{ group\?, url \}/],
  ])('rejects bad config at creation: %o', (options, message) => {
    expect(() => cspHeader(options as CspHeaderOptions)).toThrow(message);
    expect(() => cspHeader(options as CspHeaderOptions)).toThrow(/^csp-lens: /);
  });
});
