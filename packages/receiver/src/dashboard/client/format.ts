import type { Category, Coverage, Severity, Stream, StreamCounts, ViolationGroup } from '@csp-lens/schema';
import { h } from './dom.js';
import { type SeverityOverrides, explainSeverity } from '../../core/severity.js';

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

/** A severity badge; `why` (severityWhy) is its tooltip and accessible description. */
export function severityBadge(s: unknown, why?: string): HTMLElement {
  const known = SEVERITIES.includes(s as Severity) ? (s as Severity) : 'low';
  return h('span', { class: `badge sev-${known}`, title: why }, known);
}

/**
 * Why a group (or record) has its severity: the rule that gives it (core/severity.ts, with this
 * receiver's own rules), or that it is the highest the group has seen when the rule now says less.
 */
export function severityWhy(x: { severity: Severity; effectiveDirective: string; category: Category }, overrides: SeverityOverrides = {}): string {
  const rule = explainSeverity(x.effectiveDirective, x.category, overrides);
  const why = `${x.severity}: ${rule.why}`;
  return rule.severity === x.severity ? why : `${x.severity}: the highest severity seen in this group (the rules give ${rule.severity} now: ${rule.why})`;
}

// A host label longer than this may wrap anywhere (one that fits a phone's line never does; DNS
// allows 63, real ones are rarely past 40).
const LONG_LABEL = 40;
// A host longer than this may wrap at its dots on a wide screen too (style.css keeps others whole).
const LONG_HOST = 64;
// After these a URL may wrap: path, query and fragment boundaries.
const SEPARATOR = /([/?&=#;,])/;

/**
 * A URL as text that wraps only after a separator (`/ ? & = # ; ,`) and keeps its host whole: a
 * break inside `cdn.shop.example` reads as two hosts. On a phone (or for a host past 64
 * characters) the host may wrap after a dot, never inside a label. A path segment longer than its
 * box still wraps anywhere (style.css `.url`), so a forged 2 KiB value cannot widen the page.
 */
export function urlText(value: unknown): HTMLElement {
  const s = String(value);
  // Children go through h(), which shows invisible characters as escapes (dom.ts).
  const parts: (Node | string)[] = [];
  const m = /^([a-zA-Z][a-zA-Z0-9+.-]*:\/\/)([^/?#]*)([\s\S]*)$/.exec(s);
  if (m) {
    const host = m[2]!;
    // Each label a box of its own (style.css): a line may break between two, never inside one (a
    // browser would break after a hyphen), and only where the host may wrap at all. No <wbr>:
    // Chromium breaks at one even under white-space: nowrap.
    const labels = host.split(/(?<=\.)/).map((label) => h('span', { class: label.length > LONG_LABEL ? 'label long' : 'label' }, label));
    parts.push(h('span', { class: host.length > LONG_HOST ? 'host wide' : 'host' }, m[1]!, labels));
  }
  for (const part of (m ? m[3]! : s).split(SEPARATOR)) {
    if (!part) continue;
    parts.push(part);
    if (SEPARATOR.test(part)) parts.push(h('wbr'));
  }
  return h('span', { class: 'url' }, parts);
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
