import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { schemeOf } from '../../packages/receiver/src/core/fields.js';

// The ingest path reads plain http(s) URLs with a regex instead of `new URL` (it was the largest
// CPU cost). Origins decide merges, categories and noise rules, so the fast path must agree with the
// URL parser exactly: a differential check over generated edge cases (ports, IDN, IPv4 forms,
// userinfo, whitespace, backslashes, escapes).
describe('fast URL reading', () => {
  it('agrees with new URL on 100,000 generated URL-like strings', () => {
    const script = fileURLToPath(new URL('../../bench/check-urls.mjs', import.meta.url));
    const out = execFileSync(process.execPath, [script, '100000'], { encoding: 'utf8' });
    expect(out).toMatch(/^100009 strings: .* agree with new URL/);
  });
});

// The scheme is read by a character scan (no match array, constants for the common schemes): the
// regular expression it replaced is the reference.
describe('schemeOf', () => {
  const reference = (v: string) => /^([a-z][a-z0-9+.-]*)(?::|$)/i.exec(v)?.[1]!.toLowerCase();
  it('agrees with the reference expression on any string, and on scheme-like ones', () => {
    const schemeish = fc.stringMatching(/^[a-zA-Z0-9+.\-:/é]{0,12}$/);
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: 'binary' }), schemeish), (v) => {
        expect(schemeOf(v)).toBe(reference(v));
      }),
      { numRuns: 20_000 },
    );
    for (const v of ['https://a.test/', 'HTTPS://a', 'http:', 'data:image/png;base64,x', 'blob:https://a', 'inline', 'eval', 'Blob', 'chrome-extension://x', 'a+b.c-d:x', '1http:', '', ':x', 'ht tp:', 'httpsx:', 'http']) {
      expect(schemeOf(v), v).toBe(reference(v));
    }
    expect(schemeOf(undefined)).toBeUndefined();
  });
});
