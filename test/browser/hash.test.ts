import { createHash } from 'node:crypto';
import { describe, expect, it, vi } from 'vitest';
import { init } from '../../packages/browser/src/index';
import { buildPage, ENDPOINT, events, fixture, pagehide, setup, violate } from './helpers';

setup();

const sha256 = (text: string) => `sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}`;

/** Records the digests the SDK starts, so a test can wait for exactly those (no sleeping). */
function watchDigests() {
  const started: Promise<unknown>[] = [];
  const real = crypto.subtle.digest.bind(crypto.subtle);
  vi.spyOn(crypto.subtle, 'digest').mockImplementation((algorithm, data) => {
    const p = real(algorithm, data);
    started.push(p);
    return p;
  });
  // then() callbacks of the SDK run after the digest's own promise settles: one more turn.
  return async () => {
    await Promise.allSettled(started);
    await Promise.resolve();
    return started.length;
  };
}

/** One fixture's violation through the SDK, its digest awaited, then flushed. */
async function capture(type: string) {
  buildPage();
  const settled = watchDigests();
  const lens = init({ endpoint: ENDPOINT });
  violate(fixture(type));
  const digests = await settled();
  lens.flush();
  const sent = events();
  expect(sent).toHaveLength(1);
  return { event: sent[0], digests };
}

describe('the hash of blocked inline code', () => {
  it('hashes an inline <script> by its text, as CSP3 does (Chromium fixture)', async () => {
    const { event } = await capture('inline-script');
    const text = document.getElementById('v-inline-script')!.textContent!;
    expect(event.element!.hash).toBe(sha256(text));
    expect(event.element!.hash).toMatch(/^sha256-[A-Za-z0-9+/]{43}=$/);
  });

  it('hashes an inline <style> by its text', async () => {
    const { event } = await capture('inline-style-element');
    expect(event.element!.hash).toBe(sha256('body { font-family: monospace; } /* inline style element, longer than forty characters */'));
  });

  it('hashes a style attribute by its value', async () => {
    const { event } = await capture('style-attr');
    expect(event.element!.attr).toBe('style');
    expect(event.element!.hash).toBe(sha256('color: red; background: yellow; border: 1px solid blue; padding: 3px'));
  });

  it('hashes an event handler attribute by its value', async () => {
    const { event } = await capture('inline-event-handler');
    expect(event.element!.attr).toBe('onclick');
    expect(event.element!.hash).toBe(sha256("window.__clicked = 'inline event handler attribute'"));
  });

  it('hashes UTF-8, not UTF-16', async () => {
    buildPage();
    document.getElementById('v-inline-script')!.textContent = "document.title = 'Grüße — 日本 😀'";
    const settled = watchDigests();
    const lens = init({ endpoint: ENDPOINT });
    violate(fixture('inline-script'));
    await settled();
    lens.flush();
    expect(events()[0].element!.hash).toBe(sha256("document.title = 'Grüße — 日本 😀'"));
  });

  it.each(['external-script', 'img', 'eval', 'fetch'])('computes no hash for %s (a URL or no element)', async (type) => {
    const { event, digests } = await capture(type);
    expect(digests).toBe(0);
    expect(event.element?.hash).toBeUndefined();
  });

  it('skips a text over 16 Ki characters, and still sends the violation', async () => {
    buildPage();
    document.getElementById('v-inline-script')!.textContent = 'x'.repeat(16385);
    const settled = watchDigests();
    const lens = init({ endpoint: ENDPOINT });
    violate(fixture('inline-script'));
    expect(await settled()).toBe(0);
    lens.flush();
    expect(events()[0].element).toMatchObject({ tag: 'script', selector: 'body > script#v-inline-script' });
    expect(events()[0].element!.hash).toBeUndefined();
  });

  it('hashes a text of exactly 16 Ki characters', async () => {
    buildPage();
    document.getElementById('v-inline-script')!.textContent = 'x'.repeat(16384);
    const settled = watchDigests();
    const lens = init({ endpoint: ENDPOINT });
    violate(fixture('inline-script'));
    expect(await settled()).toBe(1);
    lens.flush();
    expect(events()[0].element!.hash).toBe(sha256('x'.repeat(16384)));
  });

  it('sends without the hash outside a secure context (no crypto.subtle)', () => {
    buildPage();
    vi.stubGlobal('crypto', {});
    const lens = init({ endpoint: ENDPOINT });
    violate(fixture('inline-script'));
    lens.flush();
    expect(events()).toHaveLength(1);
    expect(events()[0].element).toMatchObject({ tag: 'script' });
    expect(events()[0].element!.hash).toBeUndefined();
  });

  it('does not hold the unload flush for the digest: the batch leaves at pagehide without it', async () => {
    buildPage();
    const settled = watchDigests();
    init({ endpoint: ENDPOINT });
    violate(fixture('style-attr'));
    pagehide();
    expect(events()).toHaveLength(1);
    expect(events()[0].element!.hash).toBeUndefined();
    expect(await settled()).toBe(1);
  });

  it('never lets a failing digest reach the page (no unhandled rejection)', async () => {
    buildPage();
    const unhandled = vi.fn();
    process.on('unhandledRejection', unhandled);
    let rejected!: Promise<ArrayBuffer>;
    vi.spyOn(crypto.subtle, 'digest').mockImplementation(() => (rejected = Promise.reject(new Error('digest failed'))));
    const lens = init({ endpoint: ENDPOINT });
    violate(fixture('inline-script'));
    await rejected.catch(() => {});
    // A rejection nobody handles is reported after the microtasks of the turn have run.
    await new Promise((r) => setImmediate(r));
    process.off('unhandledRejection', unhandled);
    lens.flush();
    expect(unhandled).not.toHaveBeenCalled();
    expect(events()[0].element!.hash).toBeUndefined();
  });
});
