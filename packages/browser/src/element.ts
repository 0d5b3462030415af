import type { SdkEvent } from '@csp-lens/schema';
import { hashInline } from './hash.js';

// Which elements (`tag:attr`, the attribute src unless named) can load what a directive governs,
// keyed by the effective directive's first word (img-src, script-src-elem, form-action…). For URL-based
// violations Chromium's event.target is the Document (DESIGN §3): find the element by its URL.
// connect-src, worker-src, font-src… have no element: fetch, new Worker, @font-face.
const TAGS: Record<string, string> = {
  img: 'img video:poster',
  script: 'script',
  style: 'link:href',
  frame: 'iframe frame',
  form: 'form:action',
  media: 'video audio source',
  object: 'object:data embed',
};
// Bounds the work done in the event handler on huge pages.
const MAX_SCAN = 200;

type Found = Pick<SdkEvent, 'element' | 'noElement'>;

/** The element behind a violation, or why there is none. Never guesses between different URLs. */
export function findElement(target: EventTarget | null, blocked: string, directive: string): Found {
  // Inline script/style, style= and on*= attributes: the target is the element itself.
  if (target && (target as Node).nodeType == 1) {
    const el = target as Element;
    const attr = directive == 'style-src-attr'
      ? 'style'
      : directive == 'script-src-attr'
        ? el.getAttributeNames().find((a) => /^on/.test(a))
        : undefined;
    const found = describe(el, attr);
    // What the browser hashed (CSP3 §6.7.3.3, "Does element match source list for type and
    // source?"): the attribute's value, or a <script>'s or <style>'s child text content (the HTML
    // parser gives them text children only: textContent). A URL the element loads (Firefox targets
    // the element then too) is allowed by its source, not by a hash.
    if (blocked == 'inline') hashInline(attr ? el.getAttribute(attr) : /^(script|style)$/.test(el.localName) && el.textContent, found.element!);
    return found;
  }
  const spec = TAGS[directive.split('-')[0]];
  // A URL with an authority (scheme://…): not a keyword (inline, eval, data, blob…). The same
  // start as the origin test below, which gzip then gets almost free.
  if (!spec || !/^[^:]+:\/\//.test(blocked)) return { noElement: 'none' };
  // Chromium cuts blockedURI to the origin for cross-origin frames (seen: frame-src), older
  // browsers for more: then any element of that origin matches. Reports drop the #fragment.
  const cut = /^[^:]+:\/\/[^/?#]+\/?$/.test(blocked) && new URL(blocked).origin;
  let scanned = 0;
  let hit: Element | undefined;
  let hitUrl: string | undefined;
  let hitAttr: string | undefined;
  for (const pair of spec.split(' ')) {
    const [tag, attr = 'src'] = pair.split(':');
    // A live collection is walked lazily: only as far as MAX_SCAN elements.
    for (const el of document.getElementsByTagName(tag)) {
      if (++scanned > MAX_SCAN) break;
      const value = el.getAttribute(attr);
      if (value == null) continue;
      let u: URL;
      try {
        u = new URL(value, document.baseURI);
      } catch {
        continue;
      }
      const url = u.href;
      if (cut ? u.origin != cut : url.split('#')[0] != blocked) continue;
      if (!hit) (hit = el), (hitUrl = url), (hitAttr = attr);
      else if (url != hitUrl) return { noElement: 'ambiguous' };
    }
  }
  return hit ? describe(hit, hitAttr, hitUrl) : { noElement: 'not-found' };
}

function describe(el: Element, attr?: string, url?: string): Found {
  return { element: { tag: el.localName, selector: selector(el), attr, url, html: snippet(el) } };
}

const ROOTS = /^(html|head|body)$/;

/** A short selector, e.g. `head > link#v-ext-css` or `main#app > div:nth-of-type(2) > img:nth-of-type(1)`. */
function selector(el: Element): string {
  const parts: string[] = [];
  for (let n: Element | null = el; n && parts.length < 4; n = n.parentElement) {
    const tag = n.localName;
    let part = tag;
    if (n.id) part += '#' + CSS.escape(n.id);
    else if (!ROOTS.test(tag)) {
      let i = 1;
      for (let s: Element | null = n; (s = s.previousElementSibling); ) if (s.localName == tag) i++;
      part += `:nth-of-type(${i})`;
    }
    parts.unshift(part);
    // An id (the element's own, then one more level for context) or a root is stable enough.
    if (ROOTS.test(tag) || (n != el && (n.id || el.id))) break;
  }
  return parts.join(' > ');
}

/** The start tag only: children may hold secrets, and a nonce must never leave the page. */
function snippet(el: Element): string {
  let s = '<' + el.localName;
  for (const a of el.attributes) {
    if (s.length > 200) break;
    if (a.name != 'nonce') s += ` ${a.name}="${a.value.slice(0, 80).replace(/"/g, '&quot;')}"`;
  }
  return s.slice(0, 200) + '>';
}
