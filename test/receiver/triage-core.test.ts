import { describe, expect, it } from 'vitest';
import type { GroupTriage } from '@csp-lens/schema';
import { afterOccurrence, effectiveTriage, releaseCovered, statusMatches } from '../../packages/receiver/src/core/triage.js';
import { documentFilter, documentKey, documentMatches, searchMatcher } from '../../packages/receiver/src/core/match.js';
import { checkSeverityOverrides, explainSeverity, matchOverride, parseSeverityFlag } from '../../packages/receiver/src/core/severity.js';
import { severity } from '../../packages/receiver/src/core/classify.js';
import { coreOptions } from '../../packages/receiver/src/core/options.js';
import { browserOf } from '../../packages/receiver/src/core/browser.js';
import { configFrom } from '../../packages/receiver/src/server/config.js';

describe('releases: what a resolution in a release covers', () => {
  it('covers the same release and older versions, compared number by number', () => {
    expect(releaseCovered('1.4.0', '1.4.0')).toBe(true);
    expect(releaseCovered('1.4.0', '1.3.99')).toBe(true);
    expect(releaseCovered('v1.4', '1.4.0')).toBe(true);
    expect(releaseCovered('2026.11.3', '2026.9.30')).toBe(true);
    expect(releaseCovered('1.4.0', '1.10.0')).toBe(false);
    expect(releaseCovered('1.4.0', '1.4.1')).toBe(false);
    expect(releaseCovered('2026.11.3', '2026.11.10')).toBe(false);
  });

  it('places no record without a release, and a name that is no version only matches itself', () => {
    expect(releaseCovered('1.4.0', undefined)).toBe(false);
    expect(releaseCovered('a1b2c3d', 'a1b2c3d')).toBe(true);
    expect(releaseCovered('a1b2c3d', '0e9f8a7')).toBe(false);
    expect(releaseCovered('1.4.0', '1.4.0-beta')).toBe(false);
  });
});

describe('triage transitions', () => {
  const resolved: GroupTriage = { status: 'resolved', at: 1000, release: '2.0' };
  it('reopens a resolved group only for an occurrence after the resolution from an uncovered release', () => {
    expect(afterOccurrence(resolved, { occurredAt: 1000, receivedAt: 5000, release: '3.0' }, 9)).toBeUndefined();
    expect(afterOccurrence(resolved, { occurredAt: 1001, receivedAt: 5000, release: '1.9' }, 9)).toBeUndefined();
    expect(afterOccurrence(resolved, { occurredAt: 1001, receivedAt: 5000, release: '3.0' }, 9)).toEqual({
      status: 'open',
      at: 5000,
      regression: true,
      reopened: { reason: 'regression', at: 1001, release: '3.0', previous: resolved },
    });
  });

  it('reads an ignore whose time passed as open, and filters by status with ignored hidden by default', () => {
    const ignored: GroupTriage = { status: 'ignored', at: 1, until: 100 };
    expect(effectiveTriage(ignored, 99)).toBe(ignored);
    expect(effectiveTriage(ignored, 100)).toMatchObject({ status: 'open', reopened: { reason: 'ignore-expired', at: 100 } });
    expect(statusMatches(undefined, undefined)).toBe(true);
    expect(statusMatches(ignored, undefined)).toBe(false);
    expect(statusMatches(ignored, 'all')).toBe(true);
    expect(statusMatches({ status: 'open', at: 1, regression: true }, 'regression')).toBe(true);
  });
});

describe('the document filter and the search', () => {
  it('keys a document without query and fragment, scheme and host in lower case, the path as it is', () => {
    expect(documentKey('HTTPS://Shop.Example:8443/Cart/Item?x=1#f')).toBe('https://shop.example:8443/Cart/Item');
    expect(documentKey('about:blank')).toBe('about:blank');
  });

  it('matches a path, a URL or a host by prefix', () => {
    const on = (f: string, url: string) => documentMatches(documentFilter(f)!, url);
    expect(on('/report-uri', 'https://a.example/report-uri/x?y=1')).toBe(true);
    expect(on('/report-uri', 'https://a.example/other/report-uri')).toBe(false);
    expect(on('https://a.example/p?x=1', 'https://A.EXAMPLE/page')).toBe(true);
    expect(on('A.example/p', 'http://a.example/p')).toBe(true);
    expect(on('/x', 'about:blank')).toBe(false);
    expect(documentFilter('  ')).toBeUndefined();
  });

  it('searches blocked URL, document and source file in any case, taking % and _ literally', () => {
    const r = { documentURL: 'https://a.example/', blockedURL: 'https://cdn.example/a_b%.js', sourceFile: 'https://a.example/App.js' };
    expect(searchMatcher('A_B%')(r)).toBe(true);
    expect(searchMatcher('app.JS')(r)).toBe(true);
    expect(searchMatcher('a%b')(r)).toBe(false);
  });
});

describe('severity rules of your own', () => {
  it('picks the most specific rule: directive and category, directive, its -elem/-attr family, category, *', () => {
    const o = checkSeverityOverrides({ '*': 'low', '*:inline': 'medium', 'script-src': 'critical', 'script-src-elem': 'high', 'script-src:eval': 'low' });
    expect(matchOverride(o, 'script-src-elem', 'external')?.[1]).toBe('high');
    expect(matchOverride(o, 'script-src-attr', 'inline')?.[1]).toBe('critical');
    expect(matchOverride(o, 'script-src', 'eval')?.[1]).toBe('low');
    expect(matchOverride(o, 'style-src-attr', 'inline')?.[1]).toBe('medium');
    expect(matchOverride(o, 'img-src', 'external')?.[1]).toBe('low');
    expect(matchOverride({}, 'img-src', 'external')).toBeUndefined();
  });

  it('explains the built-in ranking, which classify still applies unchanged', () => {
    expect(explainSeverity('connect-src', 'external')).toMatchObject({ severity: 'critical', why: expect.stringMatching(/exfiltration/) });
    expect(explainSeverity('script-src-elem', 'external')).toMatchObject({ severity: 'medium' });
    expect(explainSeverity('connect-src', 'external', { 'connect-src': 'high' })).toMatchObject({ severity: 'high', why: expect.stringMatching(/--severity connect-src=high/) });
    expect(severity({ effectiveDirective: 'frame-ancestors', category: 'external' })).toBe('critical');
    expect(severity({ effectiveDirective: 'script-src-attr', category: 'inline' })).toBe('high');
    expect(severity({ effectiveDirective: 'style-src-attr', category: 'inline' })).toBe('low');
  });

  it('refuses a bad selector, category or severity with an error that names it', () => {
    expect(() => coreOptions({ severity: { 'connect-src': 'urgent' as never } })).toThrow(/csp-lens: severity: "connect-src" must map to critical, high, medium, low, got "urgent"/);
    expect(() => checkSeverityOverrides({ 'img src': 'low' })).toThrow(/is not a selector/);
    expect(() => checkSeverityOverrides({ 'img-src:thirdparty': 'low' })).toThrow(/unknown category "thirdparty"/);
    expect(() => parseSeverityFlag(['connect-src'])).toThrow(/--severity takes selector=severity, like connect-src=high/);
  });

  it('reads --severity (repeated or comma-separated) and CSP_LENS_SEVERITY', () => {
    expect(configFrom(['--severity', 'connect-src=high', '--severity', 'Script-Src:inline=CRITICAL,*:external=low'], {})).toMatchObject({
      severity: { 'connect-src': 'high', 'script-src:inline': 'critical', '*:external': 'low' },
    });
    expect(configFrom([], { CSP_LENS_SEVERITY: 'img-src=medium' })).toMatchObject({ severity: { 'img-src': 'medium' } });
    expect(() => configFrom(['--severity', 'img-src=loud'], {})).toThrow(/^csp-lens: --severity: "img-src" must map to critical, high, medium, low/);
    expect(configFrom([], {})).not.toHaveProperty('severity');
  });
});

describe('browsers from user agents', () => {
  it('names the browser and its major version', () => {
    expect(browserOf('Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/156.0.0.0 Safari/537.36')).toBe('Chrome (headless) 156');
    expect(browserOf('Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36 Edg/130.0.2849.68')).toBe('Edge 130');
    expect(browserOf('Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15')).toBe('Safari 18');
    expect(browserOf('Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1')).toBe('Safari 18');
    expect(browserOf('Mozilla/5.0 (X11; Linux x86_64; rv:153.0) Gecko/20100101 Firefox/153.0')).toBe('Firefox 153');
    expect(browserOf('Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/605.1.15 (KHTML, like Gecko)')).toBe('WebKit 605');
    expect(browserOf(undefined)).toBe('(unknown)');
    expect(browserOf('curl/8.0')).toBe('Other');
  });
});
