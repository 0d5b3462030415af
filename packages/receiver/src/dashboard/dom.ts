// The only way this client makes DOM: createElement + textContent. Every value it shows came from
// a violation report, i.e. from whoever can post to the receiver.

type Child = Node | string | number | false | null | undefined;
export type Children = (Child | Child[])[];
type Attrs = Record<string, string | number | boolean | undefined | ((e: Event) => void)>;

// Attributes that load, navigate or run: never set from data (there is no need to set them at all).
const UNSAFE = /^(on|href$|src$|srcdoc$|style$|action$|formaction$|xlink:href$)/i;

// Controls and bidi overrides in attacker text could hide or reorder what is shown: make them visible.
const HIDDEN = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]/g;
export const visible = (s: unknown): string =>
  String(s).replace(HIDDEN, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);

function set(el: Element, attrs: Attrs | null | undefined): void {
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === false) continue;
    if (typeof v === 'function') {
      el.addEventListener(k.replace(/^on/, ''), v);
      continue;
    }
    if (UNSAFE.test(k)) throw new Error(`dashboard: refusing to set ${k}`);
    el.setAttribute(k, v === true ? '' : String(v));
  }
}

function add(el: Element, children: Children): void {
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(typeof c === 'object' ? c : visible(c));
  }
}

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs?: Attrs | null, ...children: Children): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  set(el, attrs);
  add(el, children);
  return el;
}

const SVG = 'http://www.w3.org/2000/svg';
export function svg(tag: string, attrs?: Attrs | null, ...children: Children): SVGElement {
  const el = document.createElementNS(SVG, tag) as SVGElement;
  set(el, attrs);
  add(el, children);
  return el;
}

/** Replaces the content of `el`. */
export function mount(el: Element, ...children: Children): void {
  el.replaceChildren();
  add(el, children);
}

/** A definition list from label/value pairs; absent values are left out. */
export function fields(pairs: [string, unknown][], cls = 'kv'): HTMLDListElement {
  const dl = h('dl', { class: cls });
  for (const [label, value] of pairs) {
    if (value === undefined || value === null || value === '') continue;
    dl.append(h('dt', null, label), h('dd', null, value instanceof Node ? value : String(value)));
  }
  return dl;
}
