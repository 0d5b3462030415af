// The policy builder: the policy a time range's violations ask for, per directive, each source
// tickable; the header and the cspHeader() options follow the ticks (core/proposal-header.ts).
import type { PolicyProposal, ProposalNote, ProposedDirective, ProposedSource } from '@csp-lens/schema';
import { assemble } from '../../../core/proposal-header.js';
import { get } from '../api.js';
import { h, mount } from '../dom.js';
import { count, dateTime, num, when } from '../format.js';
import { bounds, RANGES } from '../state.js';
import { verdictBadge } from './advice.js';

/** The builder is open while the address has `?builder`. */
export const isBuilder = () => new URLSearchParams(location.search).has('builder');

/** Opens the builder (a history entry of its own); app.ts renders on popstate. */
export function openBuilder(): void {
  history.pushState(null, '', `${location.pathname}?builder`);
  dispatchEvent(new PopStateEvent('popstate'));
}

interface Settings {
  range: string;
  disposition: 'report' | 'all';
  reportOnly: boolean;
}

const loadProposal = (s: Settings, now = Date.now()) => get<PolicyProposal>('/policy/proposal', { from: bounds(s.range, now).since, disposition: s.disposition });

function choice(label: string, value: string, options: [string, string][], onPick: (v: string) => void): HTMLElement {
  const el = h('select', { 'aria-label': label, onchange: () => onPick(el.value) });
  for (const [v, text] of options) el.append(h('option', { value: v, selected: v === value }, text));
  return h('label', { class: 'field' }, h('span', null, label), el);
}

const reach = (n: number) => (n >= 100 ? '100+' : num(n));

function sourceRow(d: ProposedDirective, s: ProposedSource, ticked: Set<ProposedSource>, changed: () => void): HTMLElement {
  const box = h('input', { type: 'checkbox', checked: ticked.has(s), 'aria-label': `Add ${s.source} to ${d.name}` });
  box.addEventListener('change', () => {
    if (box.checked) ticked.add(s);
    else ticked.delete(s);
    changed();
  });
  return h(
    'tr',
    { class: `source verdict-row-${s.verdict}` },
    h('td', null, box),
    h('td', { class: 'wrap' }, h('code', null, [...(s.requires ?? []), s.source].join(' ')), h('div', { class: 'muted small' }, s.reason), s.warnings?.map((w) => h('div', { class: 'warn small' }, w))),
    h('td', null, verdictBadge(s.verdict)),
    h('td', { class: 'num' }, num(s.count)),
    h('td', { class: 'num' }, reach(s.documents)),
    h('td', { class: 'num' }, reach(s.clients)),
    h('td', { class: 'nowrap small' }, when(s.firstSeen), h('br'), when(s.lastSeen)),
  );
}

function directiveCard(d: ProposedDirective, ticked: Set<ProposedSource>, changed: () => void): HTMLElement {
  return h(
    'section',
    { class: 'card directive-card', 'data-directive': d.name },
    h('h2', null, h('code', null, d.name), d.created ? h('span', { class: 'muted small' }, d.from ? ` new: a copy of ${d.from}, plus what is ticked` : ' new') : null),
    h('p', { class: 'small' }, h('span', { class: 'muted' }, d.created ? 'Starts from: ' : 'Has today: '), d.base.length ? h('code', null, d.base.join(' ')) : h('span', { class: 'muted' }, 'nothing')),
    h(
      'div',
      { class: 'table-scroll' },
      h(
        'table',
        { class: 'sources' },
        h('thead', null, h('tr', null, ['', 'Source', 'Verdict', 'Count', 'Documents', 'Clients', 'First / last seen'].map((c, i) => h('th', { class: i >= 3 && i <= 5 ? 'num' : undefined }, c)))),
        h('tbody', null, d.sources.map((s) => sourceRow(d, s, ticked, changed))),
      ),
    ),
    d.truncated ? h('p', { class: 'muted small' }, `${count(d.truncated, 'more source')} not shown (the fewest occurrences; at most ${num(d.sources.length)} per directive).`) : null,
  );
}

function noteItem(n: ProposalNote): HTMLElement {
  const where = n.locations?.slice(0, 3).map((l) => `${l.file}${l.line ? `:${l.line}` : ''}`).join(', ');
  return h('li', null, verdictBadge(n.verdict), ' ', h('code', null, n.directive), ` ${n.summary} `, h('span', { class: 'muted small' }, `${count(n.records, 'record')}${where ? ` · ${where}` : ''}`));
}

function output(p: PolicyProposal, ticked: Set<ProposedSource>, reportOnly: boolean): HTMLElement {
  const { header, cspHeader } = assemble(p.base?.policy, p.directives, p.endpoint, (_, s) => ticked.has(s));
  const lines = [reportOnly ? header.reportOnly : header.enforce, header.reportingEndpoints].filter(Boolean).join('\n');
  const options = JSON.stringify({ ...cspHeader, reportOnly }, null, 2);
  return h(
    'section',
    { class: 'card output' },
    h('h2', null, 'The policy'),
    h('pre', { class: 'policy header-out' }, lines),
    cspHeader.nonce ? h('p', { class: 'muted small' }, "'nonce-{NONCE}' stands for the fresh nonce your server sends with each response (cspHeader() adds it itself).") : null,
    h('h4', null, 'As cspHeader() options'),
    h('pre', { class: 'policy options-out' }, options),
  );
}

export async function builderView(settings: Partial<Settings> = {}): Promise<HTMLElement> {
  const s: Settings = { range: '7d', disposition: 'report', reportOnly: false, ...settings };
  const p = await loadProposal(s);
  const root = h('div', { class: 'builder' });
  const ticked = new Set(p.directives.flatMap((d) => d.sources.filter((x) => x.selected)));
  const out = h('div');
  const changed = () => mount(out, output(p, ticked, s.reportOnly));
  const redo = async (next: Partial<Settings>) => {
    root.classList.add('loading');
    const view = await builderView({ ...s, ...next }).catch((e: Error) => h('div', { class: 'card error', role: 'alert' }, `Could not load: ${e.message}`));
    root.replaceWith(view);
  };
  changed();
  const back = () => {
    history.pushState(null, '', location.pathname);
    dispatchEvent(new PopStateEvent('popstate'));
  };
  mount(
    root,
    h('button', { type: 'button', class: 'btn link back', onclick: back }, '← All groups'),
    h('h1', null, 'Policy builder'),
    h('p', { class: 'muted' }, 'What the violations of a time range ask to add to the policy they violated. Sources an attack could have caused are unticked: look at them before ticking.'),
    h(
      'div',
      { class: 'filters' },
      choice('Time range', s.range, RANGES.map(([k, label]) => [k, label]), (range) => void redo({ range })),
      choice('Violations', s.disposition, [['report', 'Report-only'], ['all', 'All']], (d) => void redo({ disposition: d as Settings['disposition'] })),
      choice('Header', s.reportOnly ? 'ro' : 'enforce', [['enforce', 'Content-Security-Policy (enforce)'], ['ro', 'Content-Security-Policy-Report-Only']], (v) => {
        s.reportOnly = v === 'ro';
        changed();
      }),
    ),
    p.base
      ? h('section', { class: 'card' }, h('h2', null, 'Starting from the policy violated most recently'), h('pre', { class: 'policy' }, p.base.policy),
          p.otherPolicies.length ? h('p', { class: 'muted small' }, `Also violated in this range: ${p.otherPolicies.length} other ${p.otherPolicies.length === 1 ? 'policy' : 'policies'} (${count(p.otherPolicies.reduce((n, o) => n + o.records, 0), 'record')}).`) : null)
      : h('p', { class: 'empty' }, `No violated policy text in this range (${count(p.scanned, 'record')} read).`),
    p.directives.map((d) => directiveCard(d, ticked, changed)),
    p.notes.length ? h('section', { class: 'card' }, h('h2', null, 'Not fixed by the policy'), h('ul', { class: 'notes' }, p.notes.map(noteItem))) : null,
    p.rejected.count
      ? h('p', { class: 'warn small' }, `${count(p.rejected.count, 'source')} refused: no valid source expression (never put into the policy). E.g. ${p.rejected.examples.join(', ')}`)
      : null,
    out,
    h('p', { class: 'muted small' }, `${count(p.scanned, 'record')} read${p.scanCapped ? ' (the newest only: the range holds more)' : ''}; ${p.from ? `from ${dateTime(p.from)}` : 'all time'}.`),
  );
  return root;
}
