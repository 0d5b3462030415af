import { describe, expect, it } from 'vitest';
import { createNoiseFilter } from '../../packages/receiver/src/core/filter.js';
import { normalizeNative } from '../../packages/receiver/src/core/normalize.js';
import { startTestServer } from '../helpers/server.js';

// Noise the field's normalizers drop, on the bodies their own tests and notes carry. Where a peer's
// body has no document or directive (csp-lens counts such a report as invalid, rightly), one is
// added and the comment says so.

const meta = { receivedAt: 1_800_000_000_000, userAgent: 'Mozilla/5.0' };
const read = (report: Record<string, unknown>) => {
  const batch = normalizeNative({ 'csp-report': report }, meta);
  expect(batch.violations).toHaveLength(1);
  return batch.violations[0]!;
};
const filter = createNoiseFilter();

describe('schemes of in-app browsers and native helpers', () => {
  // go-csp-collector internal/utils/blocked_uris.go (DefaultIgnoredBlockedURIs), as its csp_test.go
  // posts them: {"csp-report": {"document-uri": "https://example.com", "blocked-uri": "…"}}; the
  // effective-directive added.
  it.each([
    'chromeinvoke://', 'mxjscall://', 'webviewprogressproxy://', 'res://', 'mx://', 'none://', 'android-webview',
    'wvjbscheme://__wvjb_queue_message__', 'nativebaiduhd://adblock', 'bdvideo://error',
  ])('go-csp-collector drops blocked-uri %s, and so does csp-lens (browser-internal)', (blocked) => {
    expect(filter(read({ 'document-uri': 'https://example.com', 'blocked-uri': blocked, 'effective-directive': 'script-src' }))).toBe('browser-internal');
  });

  // NelmioSecurityBundle Tests/ContentSecurityPolicy/Violation/FilterTest.php (SchemesNoiseDetector), document added.
  it.each([
    ['weixinping', 'script-src'], ['sraf://img', 'img-src'], ['sinaweibo://x', 'script-src'], ['webviewprogress://x', 'script-src'],
  ])('Nelmio drops blocked-uri %s under %s, and so does csp-lens', (blocked, directive) => {
    expect(filter(read({ 'document-uri': 'https://example.com/', 'blocked-uri': blocked, 'effective-directive': directive }))).toBe('browser-internal');
  });

  it('drops the Maxthon reader (mx://) from a real Safari-era report (nico3333fr/CSP-useful csp-wtf)', () => {
    const v = read({
      'document-uri': 'https://example.com/',
      referrer: 'https://example.com/',
      'violated-directive': "default-src 'self'",
      'original-policy': "default-src 'self'; report-uri /csp-parser.php",
      'blocked-uri': 'mx://res/reader-mode/reader.html',
    });
    expect(filter(v)).toBe('browser-internal');
  });
});

describe('hosts of security suites and shopping add-ons', () => {
  it('drops Trusteer Rapport’s nikkomsgchannel, which csp-lens stored as a critical connect-src (nico3333fr/CSP-useful csp-wtf)', () => {
    // The body as quoted there, "document-uri": null replaced by a page and its missing comma added.
    const v = read({
      'violated-directive': "connect-src 'self' checkout.stripe.com",
      'column-number': 9,
      'line-number': 49,
      'effective-directive': 'connect-src',
      'document-uri': 'https://example.com/checkout',
      'status-code': 0,
      'blocked-uri': 'https://nikkomsgchannel/e?001e005100',
      'original-policy': "script-src 'self' checkout.stripe.com; default-src 'self'; connect-src 'self' checkout.stripe.com; report-uri /csp_report/",
    });
    expect(v.severity).toBe('critical');
    expect(filter(v)).toBe('injected-script');
    // Nelmio's FilterTest sends the bare host too.
    expect(filter(read({ 'document-uri': 'https://example.com/', 'blocked-uri': 'nikkomsgchannel', 'effective-directive': 'connect-src' }))).toBe('injected-script');
  });

  it.each([
    'https://static.cmptch.com', 'https://partners.cmptch.com', 'https://query.jollywallet.com', 'https://api.jollywallet.com',
    // go-csp-collector's TestIsBlockedByDomain
    'https://gc.kis.v2.scr.kaspersky-labs.com/foo', 'https://kaspersky-labs.com/script.js',
  ])('drops %s (Nelmio FilterTest, go-csp-collector csp_test.go)', (blocked) => {
    expect(filter(read({ 'document-uri': 'https://example.com/', 'blocked-uri': blocked, 'effective-directive': 'script-src' }))).toBe('injected-script');
  });

  it('keeps a host that only shares a suffix (go-csp-collector: evilkaspersky-labs.com must not match)', () => {
    expect(filter(read({ 'document-uri': 'https://example.com/', 'blocked-uri': 'https://evilkaspersky-labs.com/x', 'effective-directive': 'script-src' }))).toBeUndefined();
  });
});

describe('inline scripts that are extension signatures (Nelmio FilterTest, InjectedScriptsNoiseDetector)', () => {
  // Old Firefox: blocked-uri "self" under script-src, the injected script's first characters as sample.
  it.each([
    ['LastPass', 'try {  for(var lastpass_iter=0; lastpass'],
    ['an injected tracker', '(function () {\n\n        var event_id = docum'],
    ['AdGuard', 'try {\nwindow.AG_onLoad = function(func)'],
    ['BlockAdBlock', 'var BlockAdBlock = function ()'],
    ['FuckAdBlock', 'var FuckAdBlock = function ()'],
    ['React DevTools', '\n ;(function installGlobalHook(window) {'],
  ])('drops %s', (_, sample) => {
    const v = read({ 'document-uri': 'https://example.com/', 'blocked-uri': 'self', 'effective-directive': 'script-src', 'script-sample': sample });
    expect(filter(v)).toBe('extension-signature');
  });

  it('keeps the same words in a site’s own inline script (blocked-uri "inline", Chromium 156)', () => {
    const v = read({ 'document-uri': 'https://example.com/', 'blocked-uri': 'inline', 'effective-directive': 'script-src-elem', 'script-sample': 'var event_id = 7; track(event_id)' });
    expect(filter(v)).toBeUndefined();
  });

  it('keeps old Firefox’s "self" without a signature: it is the site’s inline script (Nelmio keeps it for Firefox ≥ 43 too)', () => {
    const v = read({ 'document-uri': 'https://example.com/', 'blocked-uri': 'self', 'effective-directive': 'script-src' });
    expect(filter(v)).toBeUndefined();
    expect(v.category).toBe('inline');
  });
});

describe('localhost', () => {
  // go-csp-collector drops blocked-uri localhost and 127.0.0.1; Sentry's list has localhost.
  const local = [
    { 'document-uri': 'https://example.com', 'blocked-uri': 'localhost', 'effective-directive': 'img-src' },
    { 'document-uri': 'https://example.com', 'blocked-uri': 'http://127.0.0.1:8080/x.js', 'effective-directive': 'script-src-elem' },
    { 'document-uri': 'http://localhost:3000/cart', 'blocked-uri': 'https://cdn.example/a.js', 'effective-directive': 'script-src-elem' },
    { 'document-uri': 'http://app.localhost/', 'blocked-uri': 'inline', 'effective-directive': 'script-src-elem', 'source-file': 'http://app.localhost/' },
    { 'document-uri': 'http://[::1]:8080/', 'blocked-uri': 'eval', 'effective-directive': 'script-src' },
  ];

  it('keeps localhost documents and sources by default (where developers and the demo run)', () => {
    for (const r of local) expect(filter(read(r))).toBeUndefined();
  });

  it('drops them with dropLocalhost, counted as localhost', () => {
    const drop = createNoiseFilter({ dropLocalhost: true });
    for (const r of local) expect(drop(read(r))).toBe('localhost');
    expect(drop(read({ 'document-uri': 'https://example.com/', 'blocked-uri': 'https://notlocalhost.example/x', 'effective-directive': 'img-src' }))).toBeUndefined();
  });

  it('--drop-localhost: the receiver answers 204 and counts them under filtered.localhost', async () => {
    const server = await startTestServer({ dropLocalhost: true });
    try {
      const body = JSON.stringify({ 'csp-report': local[2] });
      expect((await server.post('/report', body, 'application/csp-report')).status).toBe(204);
      expect(await server.all()).toEqual([]);
      expect((await server.stats()).filtered).toEqual({ localhost: 1 });
    } finally {
      await server.close();
    }
  });
});
