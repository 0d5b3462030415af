import { describe, expect, it } from 'vitest';
import { init } from '../../packages/browser/src/index';
import { batches, buildPage, ENDPOINT, events, fieldsOf, fixture, PAGE_URL, sent, setup, violate } from './helpers';

setup();

describe('the batch on the wire', () => {
  it('carries the page view and each fixture field as Chromium delivered it', () => {
    history.replaceState(null, '', PAGE_URL + '#section-2');
    buildPage();
    const lens = init({ endpoint: ENDPOINT, release: '1.4.2', env: 'staging', tags: { team: 'web' }, context: { plan: 'pro' } });
    lens.setContext({ user: 'u1' });
    const fix = fixture('external-stylesheet');
    violate(fix);
    lens.flush();
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatchObject({ via: 'beacon', url: ENDPOINT });
    const [b] = batches();
    expect(b).toMatchObject({ v: 1, sentAt: expect.any(Number) });
    expect(b.page).toEqual({
      id: expect.stringMatching(/^pv_\w+$/), session: expect.stringMatching(/^s_\w+$/),
      url: PAGE_URL + '#section-2', referrer: '', release: '1.4.2', env: 'staging', tags: { team: 'web' },
      context: { plan: 'pro', user: 'u1' }, viewport: [1024, 768], lang: 'en-US', policies: [fix.originalPolicy],
    });
    expect(b.events).toEqual([{
      ...fieldsOf(fix), t: expect.any(Number), sinceLoad: expect.any(Number), count: 1, policy: 0,
      element: expect.objectContaining({ tag: 'link' }),
    }]);
    expect(b.dropped).toBeUndefined();
  });

  it('keeps the session id across page views of the tab', () => {
    init({ endpoint: ENDPOINT }).stop();
    const lens = init({ endpoint: ENDPOINT });
    violate(fixture('eval'));
    lens.flush();
    expect(batches()[0].page.session).toBe(sessionStorage.getItem('csp-lens.s'));
  });

  it('still reports when sessionStorage throws (sandboxed frame)', () => {
    const own = Object.getOwnPropertyDescriptor(window, 'sessionStorage')!;
    Object.defineProperty(window, 'sessionStorage', {
      configurable: true,
      get() {
        throw new DOMException('denied', 'SecurityError');
      },
    });
    try {
      const lens = init({ endpoint: ENDPOINT });
      violate(fixture('eval'));
      lens.flush();
    } finally {
      Object.defineProperty(window, 'sessionStorage', own);
    }
    expect(batches()[0].page.session).toBeUndefined();
    expect(events()).toHaveLength(1);
  });

  it('sends each policy once per batch, events pointing into the list', () => {
    const lens = init({ endpoint: ENDPOINT });
    for (const t of ['eval', 'fetch', 'worker', 'img', 'iframe']) violate(fixture(t));
    violate(fixture('img', 'report-only'));
    lens.flush();
    const [b] = batches();
    const enforce = fixture('img').originalPolicy as string;
    const reportOnly = fixture('img', 'report-only').originalPolicy as string;
    expect(b.page.policies).toEqual([enforce, reportOnly]);
    expect(b.events.map((e) => e.policy)).toEqual([0, 0, 0, 0, 0, 1]);
    expect(sent[0].body.split(enforce)).toHaveLength(2);
  });
});
