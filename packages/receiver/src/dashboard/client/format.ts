import type { Coverage, Severity, Stream, StreamCounts, ViolationGroup } from '@csp-lens/schema';
import { h } from './dom.js';

export const SEVERITIES: Severity[] = ['critical', 'high', 'medium', 'low'];
export const STREAMS: [Stream, string][] = [
  ['sdk', 'SDK'],
  ['reportUri', 'report-uri'],
  ['reportTo', 'report-to'],
];

export const num = (n: unknown): string => (typeof n === 'number' && Number.isFinite(n) ? n.toLocaleString('en-US') : '–');

/** A share as a whole percent; a small but nonzero share reads `<1%`, not `0%`. */
export function percent(part: number, total: number): string {
  if (!total) return '–';
  const p = (100 * part) / total;
  return p > 0 && p < 1 ? '<1%' : `${Math.round(p)}%`;
}

/** `3 page views`, `1 document`. */
export const count = (n: unknown, word: string): string => `${num(n)} ${word}${n === 1 ? '' : 's'}`;

/** A group's reach in words: `3 page views · 1 document · 2 user agents`. */
export const reachText = (g: ViolationGroup): string =>
  `${count(g.reach?.pageViews, 'page view')} · ${count(g.reach?.documents, 'document')} · ${count(g.reach?.userAgents, 'user agent')}`;

/** Records counted by a coverage split (merged + SDK-only + native-only). */
export const coverageTotal = (c: Coverage): number => c.merged + c.sdkOnly + c.nativeOnly;

export { HOUR } from '../../core/tally.js';
export const pad = (n: number) => String(n).padStart(2, '0');
export function dateTime(ms: unknown): string {
  if (typeof ms !== 'number' || !Number.isFinite(ms)) return '–';
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export function ago(ms: unknown, now = Date.now()): string {
  if (typeof ms !== 'number' || !Number.isFinite(ms)) return '–';
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86400)}d ago`;
}

/** A relative time with the exact one on hover. */
export const when = (ms: unknown) => h('time', { title: dateTime(ms) }, ago(ms));

export function severityBadge(s: unknown): HTMLElement {
  const known = SEVERITIES.includes(s as Severity) ? (s as Severity) : 'low';
  return h('span', { class: `badge sev-${known}` }, known);
}

/** One chip per stream; those that never saw it are struck through, or left out when `onlySeen`. */
export function streamChips(sources: Partial<StreamCounts> | undefined, onlySeen = false): HTMLElement {
  return h(
    'span',
    { class: 'chips' },
    STREAMS.map(([key, label]) => {
      const n = Number(sources?.[key] ?? 0);
      if (onlySeen && !(n > 0)) return null;
      return h('span', { class: `chip ${n > 0 ? 'on' : 'off'}`, title: `${label}: ${num(n)}` }, label);
    }),
  );
}
