import type { ViolationRecord } from '@csp-lens/schema';
import { fields, h } from '../dom.js';
import { dateTime, num, streamChips, urlText, when } from '../format.js';

const code = (v: unknown) => (v === undefined || v === null || v === '' ? undefined : h('code', { class: 'val' }, String(v)));
// A URL breaks only after its separators, its host whole (format.ts urlText).
const url = (v: unknown) => (v === undefined || v === null || v === '' ? undefined : h('code', { class: 'val' }, urlText(v)));
const block = (v: unknown) => (v === undefined || v === null || v === '' ? undefined : h('pre', { class: 'snippet' }, String(v)));

function position(r: ViolationRecord): string | undefined {
  if (!r.sourceFile) return undefined;
  return `${r.sourceFile}${r.lineNumber ? `:${r.lineNumber}` : ''}${r.columnNumber ? `:${r.columnNumber}` : ''}`;
}

function native(r: ViolationRecord): HTMLElement {
  const times = Object.entries(r.streamTimes ?? {}).map(([k, t]) => `${k} ${dateTime(t)}`).join(' · ');
  return h(
    'div',
    { class: 'side' },
    h('h4', null, 'Report fields'),
    fields([
      ['Document', url(r.documentURL)],
      ['Blocked', url(r.blockedURL)],
      ['Source', url(position(r))],
      ['Sample', block(r.sample)],
      ['Violated', code(r.violatedDirective)],
      ['Referrer', url(r.referrer)],
      ['Status', r.statusCode],
      ['User agent', r.userAgent],
      ['Client', r.clientIp],
      ['Streams at', times],
    ]),
    r.sdkValues && Object.keys(r.sdkValues).length
      ? h('div', { class: 'note' }, h('b', null, 'The SDK saw differently: '), Object.entries(r.sdkValues).map(([k, v]) => h('span', { class: 'pair' }, `${k} = `, code(v))))
      : null,
  );
}

const NO_ELEMENT: Record<string, string> = {
  none: 'no element (a fetch, eval or worker has none)',
  ambiguous: 'several candidate elements; none attached',
  'not-found': 'no matching element found in the page',
};

// One tag per item, key and value in boxes of their own: joined as `k=v, k=v`, a value holding
// ", env=prod" would read as a tag of its own.
const tagList = (tags: Record<string, string>) =>
  h('ul', { class: 'tags' }, Object.entries(tags).map(([k, v]) => h('li', null, h('code', { class: 'tag-key' }, k), h('code', { class: 'tag-value' }, v))));

function sdk(r: ViolationRecord): HTMLElement {
  const side = h('div', { class: 'side' }, h('h4', null, r.sdkClient ? 'SDK context, as claimed' : 'SDK context'));
  if (!r.page && !r.element) {
    side.append(h('p', { class: 'empty' }, 'No SDK event joined this report: native fields only.'));
    return side;
  }
  // Anyone can send an SDK batch; the browser's own report names its client.
  if (r.sdkClient) {
    side.append(
      h('p', { class: 'note' }, h('b', null, 'Another client sent this: '), 'the SDK event came from ', code(r.sdkClient), ', the browser’s report from ', code(r.clientIp), '. What follows is the SDK’s claim, not a fact about that report.'),
    );
  }
  const e = r.element;
  const p = r.page;
  side.append(
    fields([
      ['Element', e ? code(`<${e.tag}>`) : r.noElement ? (NO_ELEMENT[r.noElement] ?? r.noElement) : undefined],
      ['Selector', code(e?.selector)],
      ['Attribute', code(e?.attr)],
      ['Full URL', url(e?.url)],
      ['HTML', block(e?.html)],
      ['Page URL', url(p?.url)],
      ['Page view', code(p?.id)],
      ['Session', code(p?.session)],
      ['Release', code(p?.release)],
      ['Env', code(p?.env)],
      ['Tags', p?.tags ? tagList(p.tags) : undefined],
      ['Context', p?.context ? block(JSON.stringify(p.context, null, 1)) : undefined],
      ['Viewport', p?.viewport ? `${num(p.viewport[0])} × ${num(p.viewport[1])}` : undefined],
      ['Language', p?.lang],
      ['Since load', r.sinceLoad !== undefined ? `${num(Math.round(r.sinceLoad))} ms` : undefined],
    ]),
  );
  return side;
}

const DISPOSITION: Record<string, string> = { enforce: 'enforced', report: 'report-only', unknown: 'disposition unknown' };

/** One record: what the native report said beside what the SDK knew about the page. */
export function recordCard(r: ViolationRecord, extra?: Node | null): HTMLElement {
  return h(
    'article',
    { class: 'record' },
    h(
      'header',
      null,
      when(r.occurredAt),
      h('span', { class: 'muted small' }, dateTime(r.occurredAt)),
      h('span', { class: `tag ${r.disposition === 'enforce' ? 'enforce' : ''}` }, DISPOSITION[r.disposition] ?? r.disposition),
      h('span', { class: 'tag' }, `× ${num(r.count)}`),
      h('span', { class: 'tag' }, r.category),
      streamChips(r.sources),
    ),
    h('div', { class: 'sides' }, native(r), sdk(r)),
    extra ?? null,
  );
}
