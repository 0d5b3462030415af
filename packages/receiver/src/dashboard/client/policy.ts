import { h } from './dom.js';

// Which directive governs a fetch when the effective one is absent (CSP3 §6.8.3, "directive
// fallback list"): highlighting the one that actually applied is what a user needs to edit.
const FALLBACK: Record<string, string[]> = {
  'script-src-elem': ['script-src', 'default-src'],
  'script-src-attr': ['script-src', 'default-src'],
  'style-src-elem': ['style-src', 'default-src'],
  'style-src-attr': ['style-src', 'default-src'],
  'worker-src': ['child-src', 'script-src', 'default-src'],
  'frame-src': ['child-src', 'default-src'],
};
const NO_FALLBACK = new Set(['base-uri', 'form-action', 'frame-ancestors', 'navigate-to', 'sandbox', 'report-uri', 'report-to', 'require-trusted-types-for', 'trusted-types']);

export function governing(effective: string, present: string[]): string | undefined {
  const chain = [effective, ...(FALLBACK[effective] ?? (NO_FALLBACK.has(effective) || effective === 'default-src' ? [] : ['default-src']))];
  return chain.find((d) => present.includes(d));
}

/** The policy, one directive per line, the one that was violated marked. */
export function policyView(policy: string, effective: string): HTMLElement {
  const parts = policy.split(';').map((p) => p.trim()).filter(Boolean);
  const names = parts.map((p) => p.split(/\s+/)[0].toLowerCase());
  const hit = governing(effective, names);
  const pre = h('pre', { class: 'policy' });
  parts.forEach((p, i) => {
    const [name, ...rest] = p.split(/\s+/);
    const line = h('span', { class: 'pline' }, h('span', { class: 'pname' }, name), rest.length ? ` ${rest.join(' ')}` : '', i < parts.length - 1 ? ';' : '');
    pre.append(names[i] === hit ? h('mark', { class: 'violated' }, line) : line, '\n');
  });
  const note =
    hit === effective
      ? `Violated: ${effective}`
      : hit
        ? `Violated: ${effective}, which this policy does not set, so ${hit} applied`
        : `Violated: ${effective} (not found in this policy)`;
  return h('div', null, h('p', { class: 'muted small' }, note), pre);
}
