import { describe, expect, it, vi } from 'vitest';
import { init } from '../../packages/browser/src/index';
import { batches, buildPage, ENDPOINT, events, fixture, img, sent, setup, violate } from './helpers';

setup();

describe('dedupe, cap, sampling, beforeSend', () => {
  it('counts repeats of the same violation instead of adding events', () => {
    const lens = init({ endpoint: ENDPOINT });
    for (let i = 0; i < 3; i++) violate(fixture('eval'));
    // eval-loop: same line, different samples ('1 + 0', '1 + 1', …): different violations
    for (let i = 0; i < 3; i++) violate({ ...fixture('eval-loop'), sample: `1 + ${i}` });
    lens.flush();
    expect(events().map((e) => [e.sample, e.count])).toEqual([
      [fixture('eval').sample, 3], ['1 + 0', 1], ['1 + 1', 1], ['1 + 2', 1],
    ]);
  });

  it('reports occurrences since the last batch after a flush', () => {
    const lens = init({ endpoint: ENDPOINT });
    violate(fixture('eval'));
    violate(fixture('eval'));
    lens.flush();
    violate(fixture('eval'));
    lens.flush();
    lens.flush();
    expect(batches().map((b) => b.events.map((e) => e.count))).toEqual([[2], [1]]);
  });

  it('caps distinct violations per page view and counts the overflow once each', () => {
    const lens = init({ endpoint: ENDPOINT, maxEvents: 5 });
    for (let i = 0; i < 8; i++) violate(img(i));
    violate(img(7));
    violate(img(0));
    lens.flush();
    const [b] = batches();
    expect(b.events).toHaveLength(5);
    expect(b.events[0].count).toBe(2);
    expect(b.dropped).toBe(3);
    violate(img(99));
    lens.flush();
    expect(batches()[1]).toMatchObject({ events: [], dropped: 1 });
  });

  it('samples whole page views', () => {
    vi.spyOn(Math, 'random').mockReturnValue(0.7);
    init({ endpoint: ENDPOINT, sampleRate: 0.5 });
    violate(fixture('eval'));
    (window as any).__cspLens.stop();
    expect(sent).toHaveLength(0);
    vi.spyOn(Math, 'random').mockReturnValue(0.2);
    const lens = init({ endpoint: ENDPOINT, sampleRate: 0.5 });
    violate(fixture('eval'));
    lens.flush();
    expect(events()).toHaveLength(1);
  });

  it('lets beforeSend scrub an event, once per distinct violation', () => {
    buildPage();
    const beforeSend = vi.fn((e) => {
      e.blockedURI = e.blockedURI.split('?')[0];
      if (e.element?.url) e.element.url = e.element.url.split('?')[0];
      return e;
    });
    const lens = init({ endpoint: ENDPOINT, beforeSend });
    violate(fixture('img'));
    violate(fixture('img'));
    lens.flush();
    expect(beforeSend).toHaveBeenCalledTimes(1);
    const [e] = events();
    expect(e).toMatchObject({ count: 2, blockedURI: 'https://127.0.0.1:8813/images/some/very/long/path/segment/photo-1234567890.png' });
    expect(e.element!.url).toBe('https://127.0.0.1:8813/images/some/very/long/path/segment/photo-1234567890.png');
    expect(sent[0].body).not.toContain('SECRET-TOKEN');
  });

  it('lets beforeSend drop events, and drops them when it throws', () => {
    const lens = init({
      endpoint: ENDPOINT,
      beforeSend: (e) => {
        if (e.effectiveDirective === 'worker-src') throw new Error('scrubber bug');
        return e.effectiveDirective === 'connect-src' ? null : e;
      },
    });
    expect(() => ['fetch', 'worker', 'eval', 'fetch'].forEach((t) => violate(fixture(t)))).not.toThrow();
    lens.flush();
    expect(events().map((e) => e.blockedURI)).toEqual(['eval']);
  });

  it('ignores untrusted (script-dispatched) events unless told otherwise', () => {
    init({ endpoint: ENDPOINT }).flush();
    violate(fixture('eval'), { trusted: false });
    (window as any).__cspLens.stop();
    expect(sent).toHaveLength(0);
    const lens = init({ endpoint: ENDPOINT, untrusted: true });
    violate(fixture('eval'), { trusted: false });
    lens.flush();
    expect(events()).toHaveLength(1);
  });
});
