import type { HourBucket, Severity } from '@csp-lens/schema';
import { h, svg } from './dom.js';
import { HOUR, num, pad, SEVERITIES } from './format.js';

const W = 960;
const H = 220;
const PAD = { left: 48, right: 8, top: 12, bottom: 28 };
/** More bars than this and each bar spans several hours. */
const MAX_BARS = 180;
// Bottom to top: the eye compares the top segment's height, so the worst sits where it is easiest to read.
const STACK: Severity[] = [...SEVERITIES].reverse();

interface Bin {
  from: number;
  total: number;
  bySeverity: Record<Severity, number>;
}

function bin(hours: HourBucket[], from: number, to: number): { bins: Bin[]; span: number } {
  const start = Math.floor(from / HOUR) * HOUR;
  const n = Math.max(1, Math.ceil((to - start) / HOUR));
  const span = Math.ceil(n / MAX_BARS);
  const bins: Bin[] = [];
  for (let t = start; t < to; t += span * HOUR) bins.push({ from: t, total: 0, bySeverity: { critical: 0, high: 0, medium: 0, low: 0 } });
  for (const b of hours) {
    const target = bins[Math.floor((b.hour - start) / (span * HOUR))];
    if (!target) continue;
    target.total += b.total;
    for (const s of SEVERITIES) target.bySeverity[s] += b.bySeverity?.[s] ?? 0;
  }
  return { bins, span };
}

/** A round gridline step (1, 2 or 5 × 10^k) so that four steps reach `max`. */
function niceStep(max: number): number {
  const raw = Math.max(1, max / 4);
  const p = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 5, 10].map((m) => m * p).find((m) => m >= raw) ?? 10 * p;
}

/** Label every `step` hours, on round local times (00:00, 06:00, or midnights). */
const LABEL_STEPS = [1, 2, 3, 4, 6, 12, 24, 48, 72, 168, 336, 720];
function labelled(d: Date, step: number): boolean {
  if (step < 24) return d.getHours() % step === 0;
  const days = Math.round(d.getTime() / 86_400_000 - d.getTimezoneOffset() / 1440);
  return d.getHours() === 0 && days % (step / 24) === 0;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const day = (d: Date) => `${MONTHS[d.getMonth()]} ${d.getDate()}`;
const clock = (d: Date) => `${pad(d.getHours())}:00`;

/** Stacked bars of violations per hour (or per N hours over long ranges), by severity. */
export function hourChart(hours: HourBucket[], from: number, to: number): HTMLElement {
  const { bins, span } = bin(hours, from, to);
  const step = niceStep(Math.max(0, ...bins.map((b) => b.total)));
  const max = step * 4;
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const bw = plotW / bins.length;
  const y = (v: number) => PAD.top + plotH * (1 - v / max);
  const root = svg('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img', 'aria-label': 'Violations over time by severity' });

  for (let i = 0; i <= 4; i++) {
    const v = step * i;
    root.append(
      svg('line', { x1: PAD.left, x2: W - PAD.right, y1: y(v), y2: y(v), class: i ? 'grid' : 'axis' }),
      svg('text', { x: PAD.left - 8, y: y(v) + 4, class: 'tick', 'text-anchor': 'end' }, num(v)),
    );
  }
  const multiDay = to - from > 48 * HOUR;
  const hoursShown = bins.length * span;
  const labelStep = LABEL_STEPS.find((s) => hoursShown / s <= 8) ?? 720;
  bins.forEach((b, i) => {
    const x = PAD.left + i * bw;
    const g = svg('g', { class: 'bar' });
    const d = new Date(b.from);
    g.append(svg('title', null, `${day(d)} ${clock(d)}${span > 1 ? ` (+${span}h)` : ''}: ${num(b.total)} ${b.total === 1 ? 'violation' : 'violations'}` +
      SEVERITIES.filter((s) => b.bySeverity[s]).map((s) => `\n${s}: ${num(b.bySeverity[s])}`).join('')));
    // An invisible full-height target so that thin bars are easy to hover.
    g.append(svg('rect', { x, y: PAD.top, width: bw, height: plotH, class: 'hit' }));
    let acc = 0;
    for (const s of STACK) {
      const v = b.bySeverity[s];
      if (!v) continue;
      g.append(svg('rect', { x: x + bw * 0.12, width: Math.max(1, bw * 0.76), y: y(acc + v), height: Math.max(1, y(acc) - y(acc + v)), class: `seg sev-${s}` }));
      acc += v;
    }
    root.append(g);
    // With bins of several hours, a bin is labelled when the round time falls inside it.
    const round = [...Array(span).keys()].map((k) => new Date(b.from + k * HOUR)).find((t) => labelled(t, labelStep));
    // Not so close to the right edge that the label would be cut.
    if (round && x + bw / 2 < W - 24) {
      const label = multiDay ? day(round) : clock(round);
      root.append(svg('text', { x: x + bw / 2, y: H - 8, class: 'tick', 'text-anchor': 'middle' }, label));
    }
  });

  const legend = h('div', { class: 'legend' }, SEVERITIES.map((s) => h('span', null, h('i', { class: `swatch sev-${s}` }), s)));
  const unit = span > 1 ? `per ${span} hours` : 'per hour';
  return h('figure', { class: 'chart-wrap' }, root, h('figcaption', null, h('span', { class: 'muted' }, `Violations ${unit}`), legend));
}
