import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { init } from '../../packages/browser/src/index';
import { batches, buildPage, ENDPOINT, events, fixture, ROOT, sent, setup, violate } from './helpers';

setup();

const g = window as unknown as { __cspLens?: any };

describe('script-tag auto-init', () => {
  function scriptTag(src: string, data: Record<string, string> = {}) {
    const s = document.createElement('script');
    s.setAttribute('src', src);
    for (const [k, v] of Object.entries(data)) s.setAttribute(`data-${k}`, v);
    Object.defineProperty(document, 'currentScript', { value: s, configurable: true });
  }
  const DIST = resolve(ROOT, 'packages/browser/dist/sdk.js');
  const runs = {
    source: async () => {
      vi.resetModules();
      await import('../../packages/browser/src/auto');
    },
    // The minified build, as a page gets it: catches terser mangling what it must not.
    'built sdk.js': async () => {
      if (!existsSync(DIST)) throw new Error(`${DIST} is missing: run \`npm run build\` first`);
      new Function(readFileSync(DIST, 'utf8'))();
    },
  };

  describe.each(Object.entries(runs))('from %s', (_, run) => {
    it('infers the endpoint from its own src', async () => {
      scriptTag('https://127.0.0.1:8812/csp/sdk.js?v=0.1.0');
      await run();
      buildPage();
      violate(fixture('img'));
      g.__cspLens.flush();
      expect(sent[0].url).toBe('https://127.0.0.1:8812/csp/sdk');
      expect(events()[0].element!.selector).toBe('body > img#v-img');
    });

    it('reads data-* attributes', async () => {
      scriptTag('https://cdn.example/lib/csp-lens.js', {
        endpoint: 'https://r.example/x/sdk', release: 'r42', env: 'prod', tags: '{"app":"shop"}',
      });
      await run();
      violate(fixture('eval'));
      g.__cspLens.flush();
      expect(sent[0].url).toBe('https://r.example/x/sdk');
      expect(batches()[0].page).toMatchObject({ release: 'r42', env: 'prod', tags: { app: 'shop' } });
    });

    it('honours data-sample-rate="0"', async () => {
      scriptTag('https://127.0.0.1:8812/csp/sdk.js', { 'sample-rate': '0' });
      await run();
      violate(fixture('eval'));
      g.__cspLens.flush();
      expect(sent).toHaveLength(0);
    });
  });
});

describe('inline loader snippet', () => {
  const { code, hash } = JSON.parse(execFileSync('node', [resolve(ROOT, 'scripts/loader-hash.mjs'), '--json'], { encoding: 'utf8' }));

  it('prints the minified snippet with its CSP sha256 hash', () => {
    expect(hash).toBe(`sha256-${createHash('sha256').update(code).digest('base64')}`);
    expect(code.length).toBeLessThan(500);
  });

  it('buffers violations before the SDK loads; the SDK drains them, element included', () => {
    new Function(code)();
    buildPage();
    violate(fixture('inline-script'));
    violate(fixture('eval'));
    violate(fixture('eval'));
    expect(g.__cspLens).toHaveLength(3);
    const lens = init({ endpoint: ENDPOINT });
    violate(fixture('eval'));
    lens.flush();
    expect(events().map((e) => [e.blockedURI, e.count, e.element?.selector])).toEqual([
      ['inline', 1, 'body > script#v-inline-script'],
      ['eval', 3, undefined],
    ]);
  });

  it('keeps at most 100 buffered violations', () => {
    g.__cspLens = [];
    new Function(code)();
    for (let i = 0; i < 150; i++) violate({ ...fixture('eval'), sample: String(i) });
    expect(g.__cspLens).toHaveLength(100);
  });
});
