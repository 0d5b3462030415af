import { describe, expect, it, vi } from 'vitest';
import { init } from '../../packages/browser/src/index';
import { ENDPOINT, events, fixture, img, net, pagehide, sent, setup, setVisibility, violate } from './helpers';

setup();

const g = window as unknown as { __cspLens?: any };

describe('transport', () => {
  it('sends a text/plain string with sendBeacon, never a Blob', () => {
    const lens = init({ endpoint: ENDPOINT });
    violate(fixture('eval'));
    lens.flush();
    expect(navigator.sendBeacon).toHaveBeenCalledWith(ENDPOINT, expect.any(String));
    expect(fetch).not.toHaveBeenCalled();
  });

  // Refused = the 64 KiB keepalive budget is spent; a keepalive fetch shares it, a plain one does not.
  it.each([false, 'throw'] as const)('falls back to a plain fetch when sendBeacon returns %s on a page that stays', (result) => {
    net.beacon = result;
    const lens = init({ endpoint: ENDPOINT });
    violate(fixture('eval'));
    expect(() => lens.flush()).not.toThrow();
    expect(sent).toEqual([{ via: 'fetch', url: ENDPOINT, body: expect.any(String), init: expect.anything() }]);
    expect(sent[0].init).toEqual({ method: 'POST', body: sent[0].body, keepalive: false });
    expect(events()).toHaveLength(1);
  });

  it.each([
    ['pagehide (Chromium fires it while the page is still visible)', pagehide],
    ['the page turning hidden', () => setVisibility('hidden')],
  ])('falls back to a keepalive fetch when the page is going away: %s', (_, leave) => {
    net.beacon = false;
    const lens = init({ endpoint: ENDPOINT });
    violate(fixture('eval'));
    leave();
    expect(sent).toHaveLength(1);
    expect(sent[0].init).toEqual({ method: 'POST', body: sent[0].body, keepalive: true });
    // Only that flush: the next one, on a page that stayed after all (bfcache), goes plain again.
    setVisibility('visible');
    violate(img(1));
    lens.flush();
    expect(sent[1].init).toEqual({ method: 'POST', body: sent[1].body, keepalive: false });
  });

  it('does not throw when both sendBeacon and fetch fail', () => {
    net.beacon = 'throw';
    vi.stubGlobal('fetch', () => { throw new TypeError('no fetch'); });
    const lens = init({ endpoint: ENDPOINT });
    violate(fixture('eval'));
    expect(() => lens.flush()).not.toThrow();
  });

  it('resolves a relative endpoint against the page', () => {
    const lens = init({ endpoint: '/csp/sdk' });
    violate(fixture('eval'));
    lens.flush();
    expect(sent[0].url).toBe('https://127.0.0.1:8811/csp/sdk');
  });
});

describe('feedback-loop guard', () => {
  it.each([
    ['the endpoint URL', ENDPOINT],
    ['the endpoint origin (cut)', 'https://127.0.0.1:8812'],
  ])('stops for the page view when connect-src blocks %s, warning once', (_, blockedURI) => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const lens = init({ endpoint: ENDPOINT });
    violate(fixture('eval'));
    violate({ ...fixture('fetch'), blockedURI });
    violate({ ...fixture('fetch'), blockedURI: ENDPOINT + '?again' });
    violate(fixture('worker'));
    lens.flush();
    expect(sent).toHaveLength(0);
    expect(warn).toHaveBeenCalledTimes(1);
    expect(warn.mock.calls[0][0]).toMatch(/csp-lens: .*127\.0\.0\.1:8812\/csp\/sdk/);
  });

  it('keeps reporting other connect-src violations', () => {
    const lens = init({ endpoint: ENDPOINT });
    violate(fixture('fetch'));
    lens.flush();
    expect(events()).toHaveLength(1);
  });
});

describe('init', () => {
  it('is idempotent: a second init returns the running instance, one listener', () => {
    const a = init({ endpoint: ENDPOINT });
    const b = init({ endpoint: 'https://elsewhere.example/csp/sdk' });
    expect(b).toBe(a);
    violate(fixture('eval'));
    a.flush();
    expect(sent.map((s) => s.url)).toEqual([ENDPOINT]);
    expect(events()[0].count).toBe(1);
  });

  it('stop flushes, stops listening, and allows a new init', () => {
    const a = init({ endpoint: ENDPOINT });
    violate(fixture('eval'));
    a.stop();
    violate(fixture('fetch'));
    a.flush();
    expect(events().map((e) => e.blockedURI)).toEqual(['eval']);
    expect(init({ endpoint: ENDPOINT })).not.toBe(a);
  });

  it('warns instead of throwing without an endpoint', () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const lens = init({} as never);
    expect(warn).toHaveBeenCalledWith(expect.stringMatching(/^csp-lens: /));
    expect(() => (lens.flush(), lens.setContext({}), lens.stop())).not.toThrow();
    expect(g.__cspLens).toBeUndefined();
  });
});

it('does not throw on a server, where there is no window', () => {
  vi.spyOn(console, 'warn').mockImplementation(() => {});
  vi.stubGlobal('window', undefined);
  try {
    expect(() => init({ endpoint: ENDPOINT }).stop()).not.toThrow();
  } finally {
    vi.unstubAllGlobals();
  }
});
