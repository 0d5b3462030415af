import { h } from '../dom.js';
import { SEVERITIES } from '../format.js';
import { RANGES, type View } from '../state.js';

type Options = [value: string, label: string][];

function select(label: string, value: string, options: Options, onPick: (v: string) => void): HTMLElement {
  const el = h('select', { 'aria-label': label, onchange: () => onPick(el.value) });
  // A shared URL may name a directive this range has no data for: keep it selectable.
  if (value && !options.some(([v]) => v === value)) options = [...options, [value, value]];
  for (const [v, text] of options) el.append(h('option', { value: v, selected: v === value }, text));
  return h('label', { class: 'field' }, h('span', null, label), el);
}

/** The filter bar; every change rewrites the view (and so the URL). */
export function filterBar(view: View, directives: string[], onChange: (v: View) => void): HTMLElement {
  const set = (k: keyof View) => (value: string) => onChange({ ...view, [k]: value, group: '' });
  const any = (label: string): Options => [['', label]];
  const doc = h('input', { type: 'search', value: view.document, placeholder: 'https://example.com/page', 'aria-label': 'Document URL', spellcheck: 'false' });
  const form = h(
    'form',
    {
      class: 'filters',
      role: 'search',
      // Submitting would navigate (and form-action 'none' forbids it): apply the document filter instead.
      onsubmit: (e: Event) => {
        e.preventDefault();
        set('document')(doc.value.trim());
      },
    },
    select('Time range', view.range, RANGES.map(([k, label]) => [k, label]), set('range')),
    select('Directive', view.directive, [...any('All directives'), ...directives.map((d): [string, string] => [d, d])], set('directive')),
    select('Severity', view.severity, [...any('Any severity'), ...SEVERITIES.map((s): [string, string] => [s, s])], set('severity')),
    select('Disposition', view.disposition, [...any('Enforce and report'), ['enforce', 'enforce'], ['report', 'report-only']], set('disposition')),
    select('Streams', view.coverage, [...any('Any coverage'), ['merged', 'SDK + native'], ['sdk-only', 'SDK only'], ['native-only', 'Native only']], set('coverage')),
    h('label', { class: 'field grow' }, h('span', null, 'Document'), doc),
    h('button', { type: 'submit', class: 'btn' }, 'Apply'),
  );
  doc.addEventListener('search', () => doc.value === '' && view.document && set('document')(''));
  return form;
}
