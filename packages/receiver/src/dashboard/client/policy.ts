import { h } from './dom.js';
import { governing } from '../../core/csp-policy.js';

/** The policy, one directive per line, the one that was violated marked. */
export function policyView(policy: string, effective: string): HTMLElement {
  const parts = policy.split(';').map((p) => p.trim()).filter(Boolean);
  const names = parts.map((p) => p.split(/\s+/)[0].toLowerCase());
  // The directive that decided it (CSP3 §6.8.3's fallback list): the one a user needs to edit.
  const hit = governing(effective, new Map(names.map((n) => [n, []])));
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
