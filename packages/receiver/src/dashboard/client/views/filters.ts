import { h, mount } from '../dom.js';
import { num, SEVERITIES } from '../format.js';
import { RANGES, type View } from '../state.js';

type Options = [value: string, label: string][];

function select(label: string, value: string, options: Options, onPick: (v: string) => void): HTMLElement {
  const el = h('select', { 'aria-label': label, onchange: () => onPick(el.value) });
  // A shared URL may name a directive this range has no data for: keep it selectable.
  if (value && !options.some(([v]) => v === value)) options = [...options, [value, value]];
  for (const [v, text] of options) el.append(h('option', { value: v, selected: v === value }, text));
  return h('label', { class: 'field' }, h('span', null, label), el);
}

/**
 * Directives the menu lists at once, most records first; the others are found by name. Names are
 * attacker-chosen: 10,000 of them made a 10,001-option menu that took seconds to render.
 */
const MENU_SIZE = 50;

function directiveField(value: string, directives: [string, number][], onPick: (v: string) => void): HTMLElement[] {
  const el = h('select', { 'aria-label': 'Directive', onchange: () => onPick(el.value) });
  const names = directives.map(([d]) => d);
  const fill = (matching: string[], query = '') => {
    const shown = matching.slice(0, MENU_SIZE);
    // A shared URL may name a directive this range has no data for, or one past the menu: keep it selectable.
    if (value && !shown.includes(value)) shown.push(value);
    mount(
      el,
      h('option', { value: '', selected: !value }, 'All directives'),
      shown.map((d) => h('option', { value: d, selected: d === value }, d)),
      query && !matching.length ? h('option', { disabled: true }, `No directive contains “${query}”`) : null,
    );
  };
  fill(names);
  const field = h('label', { class: 'field' }, h('span', null, 'Directive'), el);
  if (names.length <= MENU_SIZE) return [field];
  const find = h('input', { type: 'search', 'aria-label': 'Find a directive', placeholder: `Find among ${num(names.length)}`, spellcheck: 'false', autocomplete: 'off' });
  find.addEventListener('input', () => {
    const q = find.value.trim().toLowerCase();
    fill(q ? names.filter((d) => d.includes(q)) : names, q);
  });
  return [field, h('label', { class: 'field' }, h('span', null, `${num(names.length - MENU_SIZE)} more directives`), find)];
}

export const STATES: Options = [
  ['', 'Open & resolved'],
  ['open', 'Open'],
  ['regression', 'Regressions'],
  ['resolved', 'Resolved'],
  ['ignored', 'Ignored'],
  ['all', 'All, ignored too'],
];

/** The filter bar; every change rewrites the view (and so the URL). */
export function filterBar(view: View, directives: [string, number][], onChange: (v: View) => void): HTMLElement {
  const set = (k: keyof View) => (value: string) => onChange({ ...view, [k]: value, group: '' });
  const any = (label: string): Options => [['', label]];
  const input = (value: string, label: string, placeholder: string, maxlength?: number) =>
    h('input', { type: 'search', value, placeholder, 'aria-label': label, spellcheck: 'false', autocomplete: 'off', maxlength });
  const doc = input(view.document, 'Document URL', '/checkout or https://example.com/page');
  const q = input(view.q, 'Search', 'blocked URL, document, source file', 200);
  const release = input(view.release, 'New in release', 'e.g. 2026.11.3', 128);
  const fresh = h('input', { type: 'checkbox', checked: view.fresh === '1', onchange: () => set('fresh')(fresh.checked ? '1' : '') });
  // The text fields apply together (Enter in any of them, or Apply).
  const apply = () => onChange({ ...view, document: doc.value.trim(), q: q.value.trim(), release: release.value.trim(), group: '' });
  const form = h(
    'form',
    {
      class: 'filters',
      role: 'search',
      // Submitting would navigate (and form-action 'none' forbids it): apply the text filters instead.
      onsubmit: (e: Event) => {
        e.preventDefault();
        apply();
      },
    },
    select('Time range', view.range, RANGES.map(([k, label]) => [k, label]), set('range')),
    directiveField(view.directive, directives, set('directive')),
    select('Severity', view.severity, [...any('Any severity'), ...SEVERITIES.map((s): [string, string] => [s, s])], set('severity')),
    select('Disposition', view.disposition, [...any('Any disposition'), ['enforce', 'enforce'], ['report', 'report-only'], ['unknown', 'unknown']], set('disposition')),
    select('Streams', view.coverage, [...any('Any coverage'), ['merged', 'SDK + native'], ['sdk-only', 'SDK only'], ['native-only', 'Native only']], set('coverage')),
    select('State', view.status, STATES, set('status')),
    h('label', { class: 'field check', title: 'Only groups first seen in the time range: what a deploy brought' }, fresh, h('span', null, 'New in range')),
    h('label', { class: 'field' }, h('span', null, 'New in release'), release),
    h('label', { class: 'field grow' }, h('span', null, 'Document (prefix)'), doc),
    h('label', { class: 'field grow' }, h('span', null, 'Search'), q),
    h('button', { type: 'submit', class: 'btn' }, 'Apply'),
  );
  // The clear button of a search field applies at once.
  for (const [el, key] of [[doc, 'document'], [q, 'q'], [release, 'release']] as const) el.addEventListener('search', () => el.value === '' && view[key] && set(key)(''));
  return form;
}
