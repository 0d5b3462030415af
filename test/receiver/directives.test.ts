import { describe, expect, it } from 'vitest';
import { normalizeNative, normalizeSdk } from '../../packages/receiver/src/core/normalize.js';
import { ClientError } from '../../packages/receiver/src/core/errors.js';
import { DIRECTIVES } from '../../packages/receiver/src/core/directives.js';

const meta = { receivedAt: 1_800_000_000_000, userAgent: 'Mozilla/5.0' };
const uri = (report: Record<string, unknown>) => normalizeNative({ 'csp-report': report }, meta);
const to = (body: Record<string, unknown>) => normalizeNative([{ type: 'csp-violation', age: 0, url: 'http://example.com/foo', user_agent: 'Mozilla/5.0', body }], meta);
const DOC = 'http://example.com/foo';

describe('a directive is one of CSP’s', () => {
  it('knows CSP3’s directives, the companion specs’ and the removed ones browsers still send (relay’s CspDirective list)', () => {
    for (const d of [
      'base-uri', 'child-src', 'connect-src', 'default-src', 'fenced-frame-src', 'font-src', 'form-action', 'frame-ancestors',
      'frame-src', 'img-src', 'manifest-src', 'media-src', 'object-src', 'plugin-types', 'prefetch-src', 'referrer', 'script-src',
      'script-src-attr', 'script-src-elem', 'style-src', 'style-src-elem', 'style-src-attr', 'upgrade-insecure-requests',
      'worker-src', 'sandbox', 'navigate-to', 'report-uri', 'report-to', 'block-all-mixed-content', 'require-sri-for',
      'require-trusted-types-for', 'trusted-types', 'webrtc', 'reflected-xss',
    ]) expect(DIRECTIVES.has(d), d).toBe(true);
  });

  // Sentry relay security_report.rs, test_csp_apply_to_event_script_src_fallback_and_other_directives:
  // "Unparseable effective-directive falls back to violated-directive."
  it('files relay’s not-a-directive + violated-directive "script-src \'unsafe-inline\'" under script-src, in both report formats', () => {
    const legacy = uri({ 'document-uri': DOC, 'effective-directive': 'not-a-directive', 'violated-directive': "script-src 'unsafe-inline'", 'blocked-uri': 'eval' });
    const api = to({ documentURL: DOC, effectiveDirective: 'not-a-directive', violatedDirective: "script-src 'unsafe-inline'", blockedURL: 'eval' });
    for (const batch of [legacy, api]) {
      expect(batch.violations[0]).toMatchObject({ effectiveDirective: 'script-src', category: 'eval', severity: 'high' });
    }
  });

  it('reads CSP2’s effective-directive with the source list appended (relay: "script-src \'unsafe-eval\'")', () => {
    const v = uri({ 'document-uri': DOC, 'effective-directive': "script-src 'unsafe-eval'", 'violated-directive': "script-src 'unsafe-eval'", 'blocked-uri': 'inline' }).violations[0]!;
    expect(v).toMatchObject({ effectiveDirective: 'script-src', category: 'inline' });
  });

  // relay test_csp_apply_to_event_requires_a_known_directive: "missing directives must not produce a CSP event".
  it('counts relay’s reports without a known directive as invalid, each with its reason, in a batch', () => {
    const cases: [string | undefined, string | undefined, string | undefined, string][] = [
      [undefined, undefined, 'inline', 'no-directive'],
      [undefined, '', 'inline', 'no-directive'],
      [undefined, "'unsafe-inline'", 'inline', 'unknown-directive'],
      ['not-a-directive', undefined, 'inline', 'unknown-directive'],
      ['not-a-directive', 'also-not', 'eval', 'unknown-directive'],
      ['', '', 'inline', 'no-directive'],
    ];
    const body = cases.map(([effective, violated, blocked]) => ({
      type: 'csp-violation', url: DOC, body: { documentURL: DOC, effectiveDirective: effective, violatedDirective: violated, blockedURL: blocked },
    }));
    const batch = normalizeNative(body, meta);
    expect(batch.violations).toEqual([]);
    expect(batch.invalid).toBe(6);
    expect(batch.invalidReasons).toEqual({ 'no-directive': 3, 'unknown-directive': 3 });
  });

  it('answers a lone report that names no directive 400, saying so (django-csp-reports’ "Very protective directive.")', () => {
    // django-csp-reports cspreports tests, test_valid_csp_1: csp-lens stored it as a group "very".
    const report = {
      'document-uri': 'http://protected.example.cz/', referrer: 'http://referrer.example.cz/', 'blocked-uri': 'http://dangerous.example.cz/',
      'violated-directive': 'Very protective directive.', 'original-policy': 'Nothing is allowed.',
    };
    expect(() => uri(report)).toThrow(ClientError);
    expect(() => uri(report)).toThrow(/names no CSP directive/);
  });

  it('does not read old Firefox’s "inline script base restriction" as a directive "inline" (django-csp-reports test_partial_csp_report)', () => {
    const batch = normalizeNative([{ 'csp-report': { 'document-uri': 'http://protected.example.cz/', 'blocked-uri': 'self', 'violated-directive': 'inline script base restriction' } }], meta);
    expect(batch.invalidReasons).toEqual({ 'unknown-directive': 1 });
  });

  it('counts an SDK event without a known directive as invalid with its reason', () => {
    const batch = normalizeSdk({ v: 1, page: { id: 'p1', url: DOC }, events: [{ documentURI: DOC, effectiveDirective: 'lolnotreal', blockedURI: 'inline' }, 'x'] }, meta);
    expect(batch.invalidReasons).toEqual({ 'unknown-directive': 1, 'not-an-event': 1 });
  });

  it('counts a batch item that is no report as not-a-report', () => {
    const batch = normalizeNative([{ type: 'csp-violation', url: DOC, body: { documentURL: DOC, effectiveDirective: 'img-src' } }, 5], meta);
    expect(batch.violations).toHaveLength(1);
    expect(batch.invalidReasons).toEqual({ 'not-a-report': 1 });
  });
});

describe('violated-directive', () => {
  it('is the effective directive where a report sends only that (CSP3 §5.3: a copy kept for historical reasons)', () => {
    // Chromium 156's report-to body has effectiveDirective and no violatedDirective.
    const v = to({ documentURL: DOC, effectiveDirective: 'img-src', blockedURL: 'https://cdn.example/a.png', disposition: 'enforce' }).violations[0]!;
    expect(v.violatedDirective).toBe('img-src');
  });

  it('keeps what a CSP2 browser sent, source list and all', () => {
    const v = uri({ 'document-uri': DOC, 'violated-directive': "style-src cdn.example.com", 'effective-directive': 'style-src', 'blocked-uri': 'http://example.com/lol.css' }).violations[0]!;
    expect(v.violatedDirective).toBe('style-src cdn.example.com');
  });
});

describe('inline violations of old browsers', () => {
  it.each([
    // relay test_csp_coerce_blocked_uri_if_missing
    ['missing blocked-uri under script-src (relay)', { 'effective-directive': 'script-src' }, 'inline', 'high'],
    // relay test_csp_get_message_1: "Blocked inline 'style'"
    ['empty blocked-uri under style-src (CSP2 §4.4, relay)', { 'effective-directive': 'style-src', 'blocked-uri': '' }, 'inline', 'low'],
    // ipsec.pl "Content Security Policy and empty blocked-uri" (2014): inline script and eval alike
    ['empty blocked-uri under script-src with a source list (CSP1 Chromium)', { 'violated-directive': "script-src 'none'", 'blocked-uri': '' }, 'inline', 'high'],
    ['old Firefox’s "self" under script-src', { 'violated-directive': "script-src 'self'", 'blocked-uri': 'self' }, 'inline', 'high'],
    ['relay’s "\'self\'" under script-src-attr', { 'effective-directive': 'script-src-attr', 'blocked-uri': "'self'" }, 'inline', 'high'],
  ])('files %s as inline', (_, report, category, severity) => {
    const v = uri({ 'document-uri': DOC, ...report }).violations[0]!;
    expect(v).toMatchObject({ category, severity });
  });

  it('keeps a missing blocked-uri under other directives as other, and "self" as self', () => {
    expect(uri({ 'document-uri': DOC, 'effective-directive': 'img-src' }).violations[0]!.category).toBe('other');
    expect(uri({ 'document-uri': DOC, 'effective-directive': 'frame-ancestors', 'blocked-uri': 'self' }).violations[0]!.category).toBe('self');
  });

  it('keeps "inline" under script-src-elem a keyword, where relay reads it as a URL "inline:" (CSP3 §5.5)', () => {
    const v = uri({ 'document-uri': DOC, 'effective-directive': 'script-src-elem', 'violated-directive': "script-src-elem 'unsafe-inline'", 'blocked-uri': 'inline' }).violations[0]!;
    expect(v).toMatchObject({ category: 'inline', severity: 'high' });
  });
});
