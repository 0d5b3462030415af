// The view lives in the query string, so a view can be shared by copying the address. The token
// never does: it comes in the fragment and goes to sessionStorage (see api.ts).
import { HOUR } from './format.js';

export interface View {
  range: string;
  directive: string;
  severity: string;
  disposition: string;
  document: string;
  coverage: string;
  /** Search over blocked URL, document and source file. */
  q: string;
  /** Triage: '' (all but ignored), open, resolved, ignored, regression, all. */
  status: string;
  /** '1': only groups first seen in the time range (new since its start). */
  fresh: string;
  /** Only groups new in this release. */
  release: string;
  /** A group id: the detail view. */
  group: string;
}

export const RANGES: [key: string, label: string, ms: number][] = [
  ['1h', 'Last hour', HOUR],
  ['6h', 'Last 6 hours', 6 * HOUR],
  ['24h', 'Last 24 hours', 24 * HOUR],
  ['7d', 'Last 7 days', 7 * 24 * HOUR],
  ['30d', 'Last 30 days', 30 * 24 * HOUR],
  ['all', 'All time', 0],
];
const KEYS: (keyof View)[] = ['range', 'directive', 'severity', 'disposition', 'document', 'coverage', 'q', 'status', 'fresh', 'release', 'group'];
const DEFAULTS: View = { range: '24h', directive: '', severity: '', disposition: '', document: '', coverage: '', q: '', status: '', fresh: '', release: '', group: '' };

export function readView(): View {
  const q = new URLSearchParams(location.search);
  const view = { ...DEFAULTS };
  for (const k of KEYS) view[k] = q.get(k) ?? DEFAULTS[k];
  if (!RANGES.some(([key]) => key === view.range)) view.range = DEFAULTS.range;
  return view;
}

/** Writes the view to the address bar; `push` makes a history entry (opening a group), else replaces. */
export function writeView(view: View, push = false, state: unknown = null): void {
  const q = new URLSearchParams();
  for (const k of KEYS) if (view[k] && view[k] !== DEFAULTS[k]) q.set(k, view[k]);
  const url = `${location.pathname}${q.size ? `?${q}` : ''}`;
  if (push) history.pushState(state, '', url);
  else history.replaceState(state, '', url);
}

/** The time window of a range key, ending now. */
export function bounds(range: string, now: number): { since?: number } {
  const ms = RANGES.find(([key]) => key === range)?.[2] ?? 24 * HOUR;
  return ms ? { since: now - ms } : {};
}

/** Any record filter but the time range (the chart then needs stats of its own). */
export const narrowed = (v: View) => !!(v.directive || v.severity || v.disposition || v.document || v.coverage || v.q);
