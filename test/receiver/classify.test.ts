import type { Category } from '@csp-lens/schema';
import { describe, expect, it } from 'vitest';
import { categorize, severity } from '../../packages/receiver/src/core/classify.js';

const DOC = 'https://shop.example/cart?x=1';

describe('categorize', () => {
  it('maps the blocked-uri keywords to their categories', () => {
    const cases: [string, Category][] = [
      ['inline', 'inline'],
      ['eval', 'eval'],
      ['wasm-eval', 'wasm-eval'],
      ['trusted-types-policy', 'trusted-types'],
      ['trusted-types-sink', 'trusted-types'],
    ];
    for (const [blocked, category] of cases) expect(categorize(blocked, DOC, 'script-src')).toBe(category);
  });

  it('files attribute directives as inline whatever the blocked value', () => {
    expect(categorize(undefined, DOC, 'style-src-attr')).toBe('inline');
    expect(categorize('inline', DOC, 'script-src-attr')).toBe('inline');
  });

  it('files data:, blob: and extension schemes, scheme-only or full', () => {
    expect(categorize('data', DOC, 'img-src')).toBe('data');
    expect(categorize('data:image/png;base64,AAAA', DOC, 'img-src')).toBe('data');
    expect(categorize('blob', DOC, 'worker-src')).toBe('blob');
    expect(categorize('BLOB:https://shop.example/uuid', DOC, 'worker-src')).toBe('blob');
    for (const ext of ['chrome-extension', 'moz-extension://id/a.js', 'safari-web-extension://x/y', 'ms-browser-extension']) {
      expect(categorize(ext, DOC, 'script-src-elem')).toBe('extension');
    }
  });

  it('tells the document’s own origin from other origins', () => {
    expect(categorize('https://shop.example/img.png', DOC, 'img-src')).toBe('self');
    expect(categorize('wss://shop.example/live', DOC, 'connect-src')).toBe('self');
    expect(categorize('https://shop.example:8443/img.png', DOC, 'img-src')).toBe('external');
    expect(categorize('http://shop.example/img.png', DOC, 'img-src')).toBe('external');
    expect(categorize('https://cdn.example', DOC, 'frame-src')).toBe('external');
  });

  it('files absent, unknown and unparseable values as other', () => {
    expect(categorize(undefined, DOC, 'img-src')).toBe('other');
    expect(categorize('filesystem', DOC, 'img-src')).toBe('other');
    expect(categorize('https://[bad', DOC, 'img-src')).toBe('other');
    expect(categorize('https://a.example/x', 'not a url', 'img-src')).toBe('external');
  });
});

describe('severity', () => {
  const sev = (effectiveDirective: string, category: Category) => severity({ effectiveDirective, category });

  it('rates cross-origin connect-src and any frame-ancestors critical', () => {
    expect(sev('connect-src', 'external')).toBe('critical');
    expect(sev('frame-ancestors', 'self')).toBe('critical');
    expect(sev('frame-ancestors', 'external')).toBe('critical');
    expect(sev('connect-src', 'self')).toBe('low');
  });

  it('rates inline script, inline event handlers, eval and trusted-types sinks high', () => {
    expect(sev('script-src', 'inline')).toBe('high');
    expect(sev('script-src-elem', 'inline')).toBe('high');
    expect(sev('script-src-attr', 'inline')).toBe('high');
    expect(sev('script-src', 'eval')).toBe('high');
    expect(sev('script-src', 'wasm-eval')).toBe('high');
    expect(sev('require-trusted-types-for', 'trusted-types')).toBe('high');
  });

  it('rates other cross-origin loads medium and the rest low', () => {
    expect(sev('img-src', 'external')).toBe('medium');
    expect(sev('script-src-elem', 'external')).toBe('medium');
    expect(sev('style-src-attr', 'inline')).toBe('low');
    expect(sev('img-src', 'data')).toBe('low');
    expect(sev('script-src-elem', 'extension')).toBe('low');
    expect(sev('img-src', 'other')).toBe('low');
  });
});
