import { describe, expect, it, vi } from 'vitest';
import { init } from '../../packages/browser/src/index';
import { batches, ENDPOINT, events, fixture, img, pagehide, sent, setup, setVisibility, violate } from './helpers';

setup();

describe('when a batch leaves', () => {
  it('after the delay (default 5 s) since the first pending violation', () => {
    vi.useFakeTimers();
    init({ endpoint: ENDPOINT });
    violate(fixture('eval'));
    vi.advanceTimersByTime(3000);
    violate(fixture('fetch'));
    vi.advanceTimersByTime(1999);
    expect(sent).toHaveLength(0);
    vi.advanceTimersByTime(1);
    expect(events()).toHaveLength(2);
    vi.advanceTimersByTime(60_000);
    expect(sent).toHaveLength(1);
  });

  it('at once when the page becomes hidden, not when it becomes visible', () => {
    init({ endpoint: ENDPOINT });
    violate(fixture('eval'));
    setVisibility('visible');
    expect(sent).toHaveLength(0);
    setVisibility('hidden');
    expect(events()).toHaveLength(1);
  });

  it('at once on pagehide', () => {
    init({ endpoint: ENDPOINT });
    violate(fixture('eval'));
    pagehide();
    expect(events()).toHaveLength(1);
  });

  it('early when the pending batch fills, split into beacons of at most 16 KiB', () => {
    vi.useFakeTimers();
    init({ endpoint: ENDPOINT });
    for (let i = 0; i < 100; i++) violate({ ...img(i, 'q='.padEnd(300, 'x')), sample: 'é'.repeat(40) });
    vi.advanceTimersByTime(0);
    expect(sent.length).toBeGreaterThan(1);
    for (const s of sent) expect(new TextEncoder().encode(s.body).length).toBeLessThanOrEqual(16384);
    vi.advanceTimersByTime(5000);
    expect(events().map((e) => e.blockedURI)).toEqual(Array.from({ length: 100 }, (_, i) => img(i, 'q='.padEnd(300, 'x')).blockedURI));
    for (const b of batches()) expect(b.page.policies).toHaveLength(1);
  });

  it('respects a smaller maxBytes', () => {
    const lens = init({ endpoint: ENDPOINT, maxBytes: 4096 });
    for (let i = 0; i < 20; i++) violate(img(i, 'x'.repeat(200)));
    lens.flush();
    expect(sent.length).toBeGreaterThan(2);
    for (const s of sent) expect(s.body.length).toBeLessThanOrEqual(4096);
    expect(events()).toHaveLength(20);
  });
});
