import type { NormalizedViolation } from '@csp-lens/schema';
import { describe, expect, it } from 'vitest';
import { createNoiseFilter, DEFAULT_NOISE_RULES, hostRule } from '../../packages/receiver/src/core/filter.js';

const v = (over: Partial<NormalizedViolation> = {}): NormalizedViolation => ({
  stream: 'reportUri',
  documentURL: 'https://shop.example/cart',
  blockedURL: 'https://cdn.example/a.js',
  effectiveDirective: 'script-src-elem',
  disposition: 'enforce',
  occurredAt: 1,
  receivedAt: 1,
  count: 1,
  category: 'external',
  severity: 'medium',
  ...over,
});

describe('createNoiseFilter', () => {
  const filter = createNoiseFilter();

  it('keeps ordinary violations, including localhost ones', () => {
    expect(filter(v())).toBeUndefined();
    expect(filter(v({ blockedURL: 'https://localhost:8813/x.png' }))).toBeUndefined();
    expect(filter(v({ blockedURL: 'inline' }))).toBeUndefined();
    expect(filter(v({ blockedURL: undefined }))).toBeUndefined();
  });

  it('drops browser-extension schemes in blockedURL or sourceFile', () => {
    for (const url of ['chrome-extension://abc/inject.js', 'moz-extension', 'safari-web-extension://x/y.js', 'safari-extension://a', 'ms-browser-extension://b', 'edge-extension://c']) {
      expect(filter(v({ blockedURL: url }))).toBe('browser-extension');
    }
    expect(filter(v({ blockedURL: 'inline', sourceFile: 'chrome-extension://abc/content.js' }))).toBe('browser-extension');
  });

  it('drops browser-internal schemes', () => {
    for (const url of ['about', 'about:blank', 'chrome://newtab', 'webkit-masked-url://hidden/', 'resource://gre/x.js', 'edge://x', 'opera://x']) {
      expect(filter(v({ blockedURL: url }))).toBe('browser-internal');
    }
  });

  it('drops reports from documents that are not web pages', () => {
    for (const doc of ['about:blank', 'about:srcdoc', 'chrome-extension://abc/popup.html', 'file:///tmp/a.html', 'chrome-error://chromewebdata/']) {
      expect(filter(v({ documentURL: doc }))).toBe('non-web-document');
    }
  });

  it("drops Chromium's error page and known injected hosts, subdomains included", () => {
    expect(filter(v({ blockedURL: 'data:text/html,chromewebdata' }))).toBe('browser-error-page');
    expect(filter(v({ blockedURL: 'https://static.image2play.com/x.js' }))).toBe('injected-script');
    expect(filter(v({ blockedURL: 'https://a.b.superfish.com/x.js' }))).toBe('injected-script');
    expect(filter(v({ blockedURL: 'https://superfish.com/x.js' }))).toBe('injected-script');
    expect(filter(v({ blockedURL: 'https://notsuperfish.com/x.js' }))).toBeUndefined();
    expect(filter(v({ sourceFile: 'https://injections.adguard.com/x.js', blockedURL: 'eval' }))).toBe('injected-script');
  });

  it('names every default rule', () => {
    expect(DEFAULT_NOISE_RULES.map((r) => r.name)).toEqual([
      'browser-extension', 'browser-internal', 'non-web-document', 'browser-error-page', 'injected-script', 'extension-signature',
    ]);
  });

  it('removes rules by name and adds custom ones', () => {
    const custom = createNoiseFilter({
      remove: ['non-web-document'],
      add: [hostRule('our-ad-vendor', ['*.ads.example']), { name: 'no-images', test: (x) => x.effectiveDirective === 'img-src' }],
    });
    expect(custom(v({ documentURL: 'about:blank' }))).toBeUndefined();
    expect(custom(v({ blockedURL: 'https://x.ads.example/t.js' }))).toBe('our-ad-vendor');
    expect(custom(v({ effectiveDirective: 'img-src' }))).toBe('no-images');
    expect(custom(v({ blockedURL: 'chrome-extension://x' }))).toBe('browser-extension');
  });

  it('keeps a violation when a custom rule throws', () => {
    const custom = createNoiseFilter({ add: [{ name: 'broken', test: () => { throw new Error('bug'); } }] });
    expect(custom(v())).toBeUndefined();
  });

  it('fails at start on misconfiguration', () => {
    expect(() => createNoiseFilter({ remove: ['nope'] })).toThrow('csp-lens: unknown noise rule "nope"');
    expect(() => createNoiseFilter({ add: [{ name: 'browser-internal', test: () => true }] })).toThrow('csp-lens: duplicate noise rule "browser-internal"');
    expect(() => createNoiseFilter({ add: [{ name: '', test: () => true }] })).toThrow(/needs a name/);
  });
});
