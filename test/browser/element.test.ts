import { describe, expect, it } from 'vitest';
import { init } from '../../packages/browser/src/index';
import { buildPage, ENDPOINT, events, fixture, setup, violate } from './helpers';

setup();

/** Sends one fixture's event through the SDK and returns what was sent for it. */
function capture(type: string, dom = buildPage) {
  dom();
  const lens = init({ endpoint: ENDPOINT });
  violate(fixture(type));
  lens.flush();
  const sent = events();
  expect(sent).toHaveLength(1);
  return sent[0];
}

const IMG_URL =
  'https://127.0.0.1:8813/images/some/very/long/path/segment/photo-1234567890.png?user=alice&token=SECRET-TOKEN-0123456789&utm_source=probe#frag';

describe('the element behind a violation', () => {
  it.each([
    ['external-stylesheet', 'link', 'head > link#v-ext-css', 'href', 'https://127.0.0.1:8813/static/s.css?css=1&k=v'],
    ['external-script', 'script', 'body > script#v-ext-script', 'src', 'https://127.0.0.1:8813/static/x.js?ext=1&token=abc'],
    ['img', 'img', 'body > img#v-img', 'src', IMG_URL],
    ['img-crosssite', 'img', 'body > img#v-img-lh', 'src', 'https://localhost:8813/img2/path.png?q=localhost'],
    ['img-dynamic', 'img', 'body > img#v-dyn-img', 'src', 'https://127.0.0.1:8813/dyn/created-by-script.png?d=1'],
    ['img-redirect', 'img', 'body > img#v-img-redirect', 'src',
      'https://127.0.0.1:8811/redir?to=https%3A%2F%2F127.0.0.1%3A8813%2Fredirected%2Fsecret%2Fpath.png%3Fk%3Dv%26token%3DREDIR'],
    ['iframe', 'iframe', 'body > iframe#v-iframe', 'src', 'https://127.0.0.1:8813/frame.html?f=1&secret=frm'],
    ['form-action', 'form', 'body > form#v-form', 'action', 'https://127.0.0.1:8813/submit?form=1'],
  ])('finds the %s element by its URL, fragment included', (type, tag, selector, attr, url) => {
    const e = capture(type);
    expect(e.element).toMatchObject({ tag, selector, attr, url });
    expect(e.element!.html).toMatch(new RegExp(`^<${tag} id="`));
    expect(e.noElement).toBeUndefined();
  });

  it('takes the first of several elements with the same URL (img and img-dup)', () => {
    expect(capture('img').element!.selector).toBe('body > img#v-img');
  });

  it('matches a blockedURI cut to the origin (frame-src) by origin among frames only', () => {
    const e = capture('iframe');
    expect(fixture('iframe').blockedURI).toBe('https://127.0.0.1:8813');
    expect(e.blockedURI).toBe('https://127.0.0.1:8813');
    expect(e.element!.url).toBe('https://127.0.0.1:8813/frame.html?f=1&secret=frm');
  });

  it('says ambiguous rather than guess between two frames of the cut origin', () => {
    const e = capture('iframe', () => {
      buildPage();
      document.body.insertAdjacentHTML('beforeend', '<iframe id="other" src="https://127.0.0.1:8813/other.html" srcdoc=""></iframe>');
    });
    expect(e.element).toBeUndefined();
    expect(e.noElement).toBe('ambiguous');
  });

  it('says not-found when no element of the right tag has the URL', () => {
    const e = capture('img', () => {
      document.body.innerHTML = '<script src="https://127.0.0.1:8813/images/some/very/long/path/segment/photo-1234567890.png"></script>';
    });
    expect(e.noElement).toBe('not-found');
  });

  it.each(['fetch', 'eval', 'eval-loop', 'new-function', 'worker'])('says %s has no element', (type) => {
    const e = capture(type);
    expect(e.element).toBeUndefined();
    expect(e.noElement).toBe('none');
  });

  it.each([
    ['inline-script', 'script', 'body > script#v-inline-script', undefined],
    ['inline-style-element', 'style', 'head > style#v-style-elem', undefined],
    ['style-attr', 'div', 'body > div#v-style-attr', 'style'],
    ['inline-event-handler', 'div', 'body > div#v-onclick', 'onclick'],
  ])('takes the %s element from event.target', (type, tag, selector, attr) => {
    const e = capture(type);
    expect(e.element).toEqual({ tag, selector, attr, html: expect.stringMatching(new RegExp(`^<${tag} `)) });
  });

  it('keeps the snippet short, to the start tag, and never leaks a nonce', () => {
    document.body.innerHTML = `<main><section><p></p><script nonce="n0nce" data-x="${'y'.repeat(500)}">secret()</script></section></main>`;
    const el = document.querySelector('script')!;
    init({ endpoint: ENDPOINT }).flush();
    violate({ ...fixture('inline-script'), target: undefined }, { target: el });
    (window as any).__cspLens.flush();
    const { element } = events()[0];
    expect(element!.selector).toBe('body > main:nth-of-type(1) > section:nth-of-type(1) > script:nth-of-type(1)');
    expect(element!.html!.length).toBeLessThanOrEqual(201);
    expect(element!.html).not.toMatch(/n0nce|secret/);
  });
});
