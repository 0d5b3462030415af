import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createState, emptyData } from '../../packages/receiver/src/core/state.js';
import { normalizeNative } from '../../packages/receiver/src/core/normalize.js';
import { sourceTemplate } from '../../packages/receiver/src/core/template.js';

// Group by what a person fixes once: the page (its template) an inline script or eval is on, not
// each URL it was seen at. The merge still compares exact documents (merge.ts bucketKey).

const fixture = (path: string) => readFileSync(new URL(`../fixtures/${path}`, import.meta.url), 'utf8');
const T0 = 1_800_000_000_000;

function ingest(state: ReturnType<typeof createState>, bodies: unknown[], at = T0) {
  for (const body of bodies) state.ingest(normalizeNative(body, { receivedAt: at, userAgent: 'Mozilla/5.0 (X11; Linux x86_64; rv:153.0) Gecko/20100101 Firefox/153.0' }));
}
const groups = (state: ReturnType<typeof createState>) => Object.values(state.data.groups);

describe('sourceTemplate', () => {
  it('drops query and fragment, scheme and port', () => {
    expect(sourceTemplate('https://shop.example/cart?ref=home#top')).toBe('//shop.example/cart');
    expect(sourceTemplate('http://127.0.0.1:8800/demo/triggers.js')).toBe(sourceTemplate('https://127.0.0.1:8801/demo/triggers.js'));
    expect(sourceTemplate('https://Shop.Example/')).toBe('//shop.example/');
  });

  it('makes id segments one template: numbers, UUIDs, hex hashes, long random tokens', () => {
    expect(sourceTemplate('https://shop.example/product/123')).toBe('//shop.example/product/:id');
    expect(sourceTemplate('https://shop.example/order/5f1c2a9e-8d3b-4c1a-9e2f-0a1b2c3d4e5f/pay')).toBe('//shop.example/order/:id/pay');
    expect(sourceTemplate('https://git.example/commit/9fceb02d0ae598e95dc970b74767f19372d61af8')).toBe('//git.example/commit/:id');
    expect(sourceTemplate('https://a.example/s/aZ3kP9qLm2Xv8RtY4wNb/view')).toBe('//a.example/s/:id/view');
    expect(sourceTemplate('https://a.example/static/main.3f9a2b1c.js')).toBe('//a.example/static/main.:id.js');
    expect(sourceTemplate('https://a.example/product/7/')).toBe('//a.example/product/:id');
  });

  it('keeps words and slugs: they name pages, not instances', () => {
    for (const u of ['https://a.example/products/iphone-15-pro-max-256gb-space-black', 'https://a.example/blog/deadbeef', 'https://a.example/v2/checkout', 'https://a.example/jquery-3.7.1.min.js']) {
      expect(sourceTemplate(u)).toBe(u.replace(/^https:/, ''));
    }
  });

  it('leaves what is not a web URL as it is, without query or fragment', () => {
    expect(sourceTemplate('')).toBe('');
    expect(sourceTemplate('blob:https://a.example/5f1c2a9e-8d3b-4c1a-9e2f-0a1b2c3d4e5f')).toBe('blob://a.example/:id');
    expect(sourceTemplate('about:srcdoc?x')).toBe('about:srcdoc');
  });
});

describe('inline and eval groups', () => {
  // Firefox 153's report-uri report of an inline script: its source-file is the page's full URL, query and all.
  const firefoxInline = JSON.parse(fixture('firefox-153/enforce/report-uri-inline-script.json'));
  const onProduct = (n: number) => {
    const r = structuredClone(firefoxInline);
    const page = `https://shop.example/product/${n}?ref=home`;
    r['csp-report']['document-uri'] = page;
    r['csp-report']['source-file'] = page;
    return r;
  };

  it('files 150 reports of one inline script on /product/N?ref=home (Firefox 153) as one group whose reach shows the pages', () => {
    const state = createState(emptyData());
    ingest(state, Array.from({ length: 150 }, (_, i) => onProduct(i + 1)));
    const gs = groups(state);
    // Before: 101 groups, 100 of one report each and the rest in the overflow group.
    expect(gs).toHaveLength(1);
    expect(gs[0]).toMatchObject({
      effectiveDirective: 'script-src-elem', category: 'inline', blocked: 'inline', sourceFile: '//shop.example/product/:id',
      severity: 'high', count: 150, records: 150, reach: { documents: 150, pageViews: 150 },
    });
    expect(gs[0]!.overflow).toBeUndefined();
    // The merge still sees 150 documents: 150 records.
    expect(state.records.size).toBe(150);
  });

  it('files the http and https copies of one eval (WebKit 2.50, the demo’s two origins) as one group', () => {
    const webkitEval = JSON.parse(fixture('webkit-2.50/enforce/report-uri-eval.json'));
    const copy = (origin: string) => {
      const r = structuredClone(webkitEval);
      for (const k of ['document-uri', 'source-file']) r['csp-report'][k] = r['csp-report'][k].replace('https://127.0.0.1:8811', origin);
      return r;
    };
    const state = createState(emptyData());
    ingest(state, [copy('http://127.0.0.1:8800'), copy('https://127.0.0.1:8801')]);
    expect(groups(state).map((g) => [g.category, g.sourceFile, g.count])).toEqual([['eval', '//127.0.0.1/p', 2]]);
  });

  it('still tells pages apart, and inline from eval', () => {
    const state = createState(emptyData());
    const other = structuredClone(firefoxInline);
    other['csp-report']['document-uri'] = other['csp-report']['source-file'] = 'https://shop.example/cart?ref=home';
    ingest(state, [onProduct(1), other, JSON.parse(fixture('chromium-156/enforce/report-to-eval.json'))]);
    expect(groups(state).map((g) => `${g.category} ${g.sourceFile}`).sort()).toEqual(['eval //127.0.0.1/p', 'inline //shop.example/cart', 'inline //shop.example/product/:id']);
  });

  it('files old Firefox’s "self" and a current browser’s "inline" for one page’s inline script as one group', () => {
    const state = createState(emptyData());
    const old = { 'csp-report': { 'document-uri': 'https://shop.example/cart', 'violated-directive': "script-src 'self'", 'blocked-uri': 'self', 'source-file': 'https://shop.example/cart' } };
    const now = { 'csp-report': { 'document-uri': 'https://shop.example/cart', 'effective-directive': 'script-src', 'blocked-uri': 'inline', 'source-file': 'https://shop.example/cart', disposition: 'enforce' } };
    ingest(state, [old, now]);
    expect(groups(state).map((g) => [g.blocked, g.count, g.severity])).toEqual([['inline', 2, 'high']]);
  });
});
