// The only way this client makes DOM: createElement + textContent. Every value it shows came from
// a violation report, i.e. from whoever can post to the receiver.

type Child = Node | string | number | false | null | undefined;
export type Children = (Child | Child[])[];
type Attrs = Record<string, string | number | boolean | undefined | ((e: Event) => void)>;

// Attributes that load, navigate or run: never set from data (there is no need to set them at all).
const UNSAFE = /^(on|href$|src$|srcdoc$|style$|action$|formaction$|xlink:href$)/i;

// Characters in attacker text that render as nothing, or hide, reorder or break what is around them,
// shown as their code instead. By Unicode property, not by list: controls (Cc; tab and newline
// aside, the snippets keep them), format characters (Cf: every bidi control, U+061C, the soft
// hyphen, zero-width characters, tag characters), line and paragraph separators (Zl, Zp), lone
// surrogates (Cs), and the other default-ignorable code points (Hangul fillers, variation selectors).
const HIDDEN_CLASS = String.raw`(?![\t\n])[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}\p{Default_Ignorable_Code_Point}]`;
const HIDDEN = new RegExp(HIDDEN_CLASS, 'gu');
const HAS_HIDDEN = new RegExp(HIDDEN_CLASS, 'u');

/** `\u202e`, or `\u{e0041}` past the BMP. */
function codeOf(c: string): string {
  const cp = c.codePointAt(0) ?? 0;
  return cp > 0xffff ? `\\u{${cp.toString(16)}}` : `\\u${cp.toString(16).padStart(4, '0')}`;
}

export const visible = (s: unknown): string => String(s).replace(HIDDEN, codeOf);

// In text, each escape is an element of its own (styled apart), so that a literal "\u202e" typed
// into a report does not read as one the dashboard made.
function text(value: unknown): Node | string {
  const s = String(value);
  if (!HAS_HIDDEN.test(s)) return s;
  const frag = document.createDocumentFragment();
  let at = 0;
  for (const m of s.matchAll(HIDDEN)) {
    const esc = document.createElement('span');
    esc.className = 'esc';
    esc.title = 'an invisible or formatting character, shown as its code';
    esc.textContent = codeOf(m[0]);
    frag.append(s.slice(at, m.index), esc);
    at = m.index + m[0].length;
  }
  frag.append(s.slice(at));
  return frag;
}

function set(el: Element, attrs: Attrs | null | undefined): void {
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === false) continue;
    if (typeof v === 'function') {
      el.addEventListener(k.replace(/^on/, ''), v);
      continue;
    }
    if (UNSAFE.test(k)) throw new Error(`dashboard: refusing to set ${k}`);
    // Titles and labels are read too; a value is what a control submits, kept as it is.
    el.setAttribute(k, v === true ? '' : k === 'value' ? String(v) : visible(v));
  }
}

function add(el: Element, children: Children): void {
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(typeof c === 'object' ? c : text(c));
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
