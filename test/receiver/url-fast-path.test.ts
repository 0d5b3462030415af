import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

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
