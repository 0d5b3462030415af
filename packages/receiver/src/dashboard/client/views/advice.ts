import type { CodeLocation, GroupAdvice, Verdict } from '@csp-lens/schema';
import { h } from '../dom.js';
import { num } from '../format.js';

const VERDICTS: Record<Verdict, [label: string, hint: string]> = {
  allow: ['Allow', 'the change below is the fix'],
  investigate: ['Investigate first', 'it would allow it, but this may be an attack: look before adding anything'],
  'fix-code': ['Fix the code', 'no policy change is right here'],
};

export function verdictBadge(v: Verdict): HTMLElement {
  const [label, hint] = VERDICTS[v] ?? VERDICTS.investigate;
  return h('span', { class: `verdict verdict-${VERDICTS[v] ? v : 'investigate'}`, title: hint }, label);
}

/** The edited directive, the added sources marked. */
function change(a: GroupAdvice): HTMLElement | null {
  if (!a.result || !a.directive) return null;
  const added = new Set(a.add ?? []);
  const [name, ...sources] = a.result.split(' ');
  const line = h('pre', { class: 'policy change' }, h('span', { class: 'pname' }, name));
  for (const s of sources) line.append(' ', added.has(s) ? h('mark', { class: 'added' }, s) : s);
  const copy = h('button', { type: 'button', class: 'btn small-btn', title: 'Copy the directive' }, 'Copy');
  copy.addEventListener('click', () => {
    void navigator.clipboard?.writeText(a.result!).then(() => (copy.textContent = 'Copied'), () => (copy.textContent = 'Copy failed'));
  });
  return h(
    'div',
    { class: 'advice-change' },
    h('div', { class: 'advice-change-head' },
      h('span', { class: 'muted small' }, a.from ? `New directive: ${a.from.directive ? `a copy of ${a.from.directive}` : 'it was not in the policy'}, plus the addition` : `Change ${a.directive}`),
      copy,
    ),
    line,
  );
}

function locations(list: CodeLocation[]): HTMLElement {
  return h(
    'table',
    { class: 'locations' },
    h('thead', null, h('tr', null, h('th', null, 'Where'), h('th', { class: 'num' }, 'Count'), h('th', null, 'Sample'))),
    h('tbody', null, list.map((l) =>
      h('tr', null,
        h('td', { class: 'wrap' }, h('code', null, `${l.file}${l.line ? `:${l.line}${l.column ? `:${l.column}` : ''}` : ''}`)),
        h('td', { class: 'num' }, num(l.count)),
        h('td', { class: 'wrap' }, l.sample ? h('code', { class: 'val' }, l.sample) : h('span', { class: 'muted' }, '–')),
      ),
    )),
  );
}

const list = (cls: string, items: string[] | undefined, tag: 'ul' | 'ol' = 'ul') =>
  items?.length ? h(tag, { class: cls }, items.map((x) => h('li', null, x))) : null;

/** The group's advice: what to change in the policy, or why not, and the facts behind it. */
export function adviceCard(a: GroupAdvice, openBuilder?: () => void): HTMLElement {
  return h(
    'section',
    { class: `card advice advice-${a.verdict}` },
    h('h2', null, 'Advice ', verdictBadge(a.verdict)),
    h('p', { class: 'advice-summary' }, a.summary),
    change(a),
    list('advice-warnings', a.warnings),
    h('h4', null, 'Why'),
    list('advice-reasons', a.reasons),
    a.alternatives?.length ? [h('h4', null, 'Other fixes'), list('advice-alternatives', a.alternatives, 'ol')] : null,
    a.locations?.length ? [h('h4', null, 'In the code'), locations(a.locations)] : null,
    h(
      'p',
      { class: 'muted small' },
      `Based on the ${num(a.basedOn.records)} most recent of ${num(a.basedOn.of)} records. `,
      openBuilder ? h('button', { type: 'button', class: 'btn link', onclick: openBuilder }, 'Build the whole policy from a time range →') : null,
    ),
  );
}
