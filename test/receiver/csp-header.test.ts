import { afterEach, describe, expect, it } from 'vitest';
import Koa from 'koa';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { cspHeader, type CspHeaderOptions } from '../../packages/receiver/src/http/csp-header.js';

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
    const get = await serve({ directives, reportUri: '/csp/report', reportTo: { url: '/csp/report' }, origin: 'https://site.example' });
    const { res } = await get('/page', https);
    expect(res.headers.get('content-security-policy')).toMatch(/; report-uri \/csp\/report; report-to csp-lens$/);
    expect(res.headers.get('reporting-endpoints')).toBe('csp-lens="https://site.example/csp/report"');
  });

  // Behind a proxy (app.proxy = true) ctx.host is X-Forwarded-Host, which a client sets: a shared
  // cache keyed on the URL would hand every visitor a page reporting to the client's host.
  it('never takes the report-to endpoint from the request: X-Forwarded-Host and Host cannot move it', async () => {
    const get = await serve({ directives, reportTo: { url: '/csp/report' }, origin: 'https://site.example' });
    for (const headers of [
      { ...https, 'x-forwarded-host': 'attacker.example' },
      { ...https, 'x-forwarded-host': 'attacker.example:443, site.example' },
      { ...https, host: 'attacker.example' },
    ]) {
      const { res } = await get('/page', headers);
      expect(res.headers.get('reporting-endpoints'), JSON.stringify(headers)).toBe('csp-lens="https://site.example/csp/report"');
    }
  });

  it('refuses a report-to path without a configured origin, at creation', () => {
    expect(() => cspHeader({ directives, reportTo: { url: '/csp/report' } })).toThrow(
      /^csp-lens: cspHeader: reportTo\.url "\/csp\/report" is a path: set origin/,
    );
    // An absolute endpoint needs none.
    expect(() => cspHeader({ directives, reportTo: { url: 'https://r.example/csp/report' } })).not.toThrow();
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
      origin: 'https://site.example',
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
    [{ directives, reportTo: { url: 'https://' } }, /reportTo\.url is not a URL/],
    [{ directives, reportTo: { url: '/r' }, origin: 'http://site.example' }, /origin must be an https origin/],
    [{ directives, reportTo: { url: '/r' }, origin: 'https://site.example/app' }, /origin must be an https origin .* no path/],
    [{ directives, reportTo: { url: '/r' }, origin: 'https://site.example?x' }, /origin must be an https origin/],
    [{ directives, reportTo: { url: '/r' }, origin: 'site.example' }, /origin must be an https origin/],
    [{ directives, reportTo: { url: '/r' }, origin: 'https://user@site.example' }, /origin must be an https origin/],
    [{ directives: { 'img-src': 'https://bücher.example' } }, /non-ASCII character.*punycode/],
  ])('rejects bad config at creation: %o', (options, message) => {
    expect(() => cspHeader(options as CspHeaderOptions)).toThrow(message);
    expect(() => cspHeader(options as CspHeaderOptions)).toThrow(/^csp-lens: /);
  });

  // A NUL passed every check; CR/LF in a header value end the header on a server that lets them through.
  const CONTROLS = ['\0', '\x01', '\x08', '\t', '\n', '\r', '\x1b', '\x1f', '\x7f'];
  it.each(CONTROLS.map((c) => [c]))('rejects control character %j in any source, directive name or URL', (c) => {
    const hex = `U+${c.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}`;
    const cases: unknown[] = [
      { directives: { 'img-src': [`https://cdn.example${c}`] } },
      { directives: { 'img-src': [`'self'`, `${c}`] } },
      { directives: { 'img-src': `'self' https://cdn.example/${c}x` } },
      { directives: { [`img-src${c}`]: ["'self'"] } },
      { directives, reportUri: `/csp/report${c}` },
      { directives, reportTo: { url: `https://r.example/csp${c}/report` } },
      { directives, reportTo: { url: '/csp/report' }, origin: `https://site.example${c}` },
    ];
    for (const options of cases) {
      expect(() => cspHeader(options as CspHeaderOptions), JSON.stringify(options)).toThrow(new RegExp(`^csp-lens: .*control character \\(${hex.replace('+', '\\+')}\\)`));
    }
  });
});
