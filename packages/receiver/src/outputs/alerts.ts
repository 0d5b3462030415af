import type { NormalizedViolation, ViolationGroup } from '@csp-lens/schema';
import { type AlertEvent, type AlertFormat, type AlertGroup, type AlertReason, alertBody } from './alert-body.js';
import { datadogBody } from './alert-datadog.js';
import { emailContent } from './alert-email.js';
import { createAlertLimit } from './alert-limit.js';
import { createSender, type SenderOptions, type Target } from './alert-send.js';
import { webhookTarget } from './webhook.js';
import { type EmailConfig, emailTarget } from './email.js';
import { type RuleOptions, type Rules, createRules } from './rules.js';
import type { StoredViolation } from '../core/types.js';
import { effectiveTriage } from '../core/triage.js';

export type { AlertEvent, AlertFormat, AlertGroup, AlertReason } from './alert-body.js';
export const ALERT_REASONS: AlertReason[] = ['new-group', 'regression', 'critical', 'spike', 'campaign', 'volume', 'new-inline'];
/** What a destination gets unless it says: volume (more than N an hour) only when asked, it is busy by nature. */
export const DEFAULT_REASONS: AlertReason[] = ALERT_REASONS.filter((r) => r !== 'volume');

export interface WebhookConfig {
  url: string;
  format: AlertFormat;
  /** Default: DEFAULT_REASONS. */
  on?: AlertReason[];
  /** Sent with every request (Datadog's DD-API-KEY). */
  headers?: Record<string, string>;
}

/** Any destination of alerts: a webhook, email, syslog in alerts mode. */
export interface Channel<P = unknown> {
  on: AlertReason[];
  target: Target<P>;
  payload(e: AlertEvent): P;
  close?(): void;
}

export interface AlertsOptions extends SenderOptions {
  webhooks?: WebhookConfig[];
  email?: EmailConfig;
  /** Destinations made elsewhere (syslog's, in alerts mode). */
  channels?: Channel[];
  /** A spike: this hour's count ≥ minCount and ≥ factor × the average of the trailing `hours`. */
  spike?: { factor?: number; minCount?: number; hours?: number };
  /** The campaign, volume and new-inline rules: their options, or rules shared with the dashboard's signals. */
  rules?: RuleOptions | Rules;
  /** The dashboard's view of a group (--public-url), put in every alert. */
  link?: (groupId: string) => string;
  /** At most one alert per destination, reason and group in this window (default 60 s); the rest are counted. */
  minIntervalMs?: number;
  /**
   * At most this many alerts per destination in any `minIntervalMs` window, whatever the groups
   * (default 10): distinct groups are free to make, so per-group limits alone would let a flood through.
   */
  maxPerWebhook?: number;
  clock?: () => number;
}

export interface Alerts {
  /** What a store append stored: new groups (the store says which are new), critical violations, spikes, the rules' hits. */
  onStored(stored: StoredViolation[]): void;
  /** Resolves once every queued alert was sent or gave up (tests, graceful shutdown). */
  idle(): Promise<void>;
  close(): Promise<void>;
  stats(): { sent: number; failed: number; dropped: number; suppressed: number };
}

const HOUR = 3_600_000;
/** Groups tracked for spikes; the oldest are forgotten past it (memory stays bounded). */
const MAX_TRACKED = 20_000;

/** The group as an alert shows it, with the severity of the violation at hand. */
function alertGroup(g: ViolationGroup, v: NormalizedViolation): AlertGroup {
  const { id, fingerprint, effectiveDirective, category, blocked, sourceFile } = g;
  return { id, fingerprint, effectiveDirective, category, blocked, severity: v.severity, ...(sourceFile !== undefined ? { sourceFile } : {}) };
}

function regressionOf(g: ViolationGroup): AlertEvent['regression'] {
  const r = g.triage?.reopened;
  if (!r) return undefined;
  const { at, by, release } = r.previous;
  return { resolvedAt: at, ...(by !== undefined ? { by } : {}), ...(release !== undefined ? { resolvedIn: release } : {}), ...(r.release !== undefined ? { release: r.release } : {}) };
}

function remember<K, V>(map: Map<K, V>, key: K, value: V): void {
  map.set(key, value);
  if (map.size > MAX_TRACKED) map.delete(map.keys().next().value as K);
}

/** Webhooks go to http(s) URLs only. */
export const isHttpUrl = (u: string): boolean => URL.canParse(u) && /^https?:$/.test(new URL(u).protocol);

const checkReasons = (on: AlertReason[] | undefined) => {
  for (const r of on ?? []) if (!ALERT_REASONS.includes(r)) throw new Error(`csp-lens: alerts fire on ${ALERT_REASONS.join(', ')}; got ${JSON.stringify(r)}`);
};

export function webhookChannel(w: WebhookConfig, o: SenderOptions = {}): Channel<string> {
  if (!isHttpUrl(w.url)) throw new Error(`csp-lens: a webhook must be an http(s) URL, got ${JSON.stringify(w.url)}`);
  if (!['slack', 'json', 'datadog'].includes(w.format)) throw new Error('csp-lens: a webhook format is slack, json or datadog');
  checkReasons(w.on);
  return {
    on: w.on?.length ? w.on : DEFAULT_REASONS,
    target: webhookTarget(w.url, { fetch: o.fetch, timeoutMs: o.timeoutMs, headers: w.headers }),
    payload: (e) => (w.format === 'datadog' ? datadogBody(e) : alertBody(w.format as 'slack' | 'json', e)),
  };
}

export function emailChannel(c: EmailConfig, o: SenderOptions = {}): Channel<ReturnType<typeof emailContent>> {
  checkReasons(c.on);
  const target = emailTarget(c, o.timeoutMs);
  return { on: c.on?.length ? c.on : DEFAULT_REASONS, target, payload: emailContent, close: () => target.close() };
}

export function createAlerts(options: AlertsOptions): Alerts {
  const clock = options.clock ?? Date.now;
  const interval = options.minIntervalMs ?? 60_000;
  const { factor = 10, minCount = 50, hours = 24 } = options.spike ?? {};
  /** Per group: counts per hour for the trailing window, and the hour a spike last fired. */
  const rates = new Map<string, { first: number; counts: Map<number, number>; fired: number }>();
  const limit = createAlertLimit({ intervalMs: interval, maxPerWebhook: options.maxPerWebhook ?? 10, maxTracked: MAX_TRACKED });
  const rules = options.rules && 'observe' in options.rules ? options.rules : createRules(options.rules as RuleOptions | undefined);
  for (const c of options.channels ?? []) checkReasons(c.on);
  const channels: Channel[] = [
    ...(options.webhooks ?? []).map((w) => webhookChannel(w, options)),
    ...(options.email ? [emailChannel(options.email, options)] : []),
    ...(options.channels ?? []),
  ].map((c) => ({ ...c, on: [...new Set(c.on)] }));
  const sender = createSender(options);

  /** `reasons` in order of preference: each destination gets one alert, for the first it wants. */
  function emit(reasons: AlertReason[], v: NormalizedViolation, group: AlertGroup, now: number, extra: Partial<AlertEvent> = {}, limitKey = group.id): void {
    channels.forEach((channel, i) => {
      const reason = reasons.find((r) => channel.on.includes(r));
      if (!reason) return;
      const heldBack = limit.take(i, reason, limitKey, now);
      if (heldBack === undefined) return;
      // A regression's details belong to the regression alert only (a destination that does not
      // take those gets the new-group or critical alert as it would be without it).
      const { regression, ...rest } = extra;
      const event: AlertEvent = { reason, group, violation: v, at: new Date(now).toISOString(), ...rest, ...(reason === 'regression' ? { regression } : {}), suppressed: heldBack || undefined, link: options.link?.(group.id) };
      sender.enqueue(i, channel.target, () => channel.payload(event));
    });
  }

  function spikeOf(id: string, v: NormalizedViolation, now: number): AlertEvent['spike'] {
    const hour = Math.floor(now / HOUR);
    let r = rates.get(id);
    if (!r) remember(rates, id, (r = { first: hour, counts: new Map(), fired: -1 }));
    const count = (r.counts.get(hour) ?? 0) + v.count;
    r.counts.set(hour, count);
    for (const h of r.counts.keys()) if (h < hour - hours) r.counts.delete(h);
    // A group's first hour has no history to compare with: that is the new-group alert's job.
    const span = Math.min(hours, hour - r.first);
    if (span < 1 || r.fired === hour || count < minCount) return undefined;
    let before = 0;
    for (const [h, n] of r.counts) if (h < hour) before += n;
    const average = before / span;
    if (count < factor * average) return undefined;
    r.fired = hour;
    return { count, average };
  }

  return {
    onStored(stored) {
      if (sender.closed) return;
      // Runs inside ingest: only counting here; formatting and network happen in the queue.
      try {
        const now = clock();
        // A batch may hold several violations of the group it created: one new-group alert.
        const announced = new Set<string>();
        for (const { violation: v, group: g, newGroup, regression } of stored) {
          const group = alertGroup(g, v);
          const isNew = newGroup && !announced.has(g.id);
          if (isNew) announced.add(g.id);
          // An ignored group is counted but says nothing (until its ignore runs out).
          if (!regression && effectiveTriage(g.triage, now)?.status === 'ignored') continue;
          // A new critical group is one alert (its severity is in it), not two; so is a regression.
          const reasons: AlertReason[] = [];
          if (regression) reasons.push('regression');
          if (isNew) reasons.push('new-group');
          if (v.severity === 'critical') reasons.push('critical');
          if (reasons.length) emit(reasons, v, group, now, regression ? { regression: regressionOf(g) } : {});
          const spike = spikeOf(group.id, v, now);
          if (spike) emit(['spike'], v, group, now, { spike });
        }
        for (const hit of rules.observe(stored, now)) {
          const { violation: v, group: g } = hit.stored;
          // Store-wide volume is one alert for all groups: limited as one.
          const key = hit.volume?.scope === 'store' ? '*' : g.id;
          emit([hit.reason], v, alertGroup(g, v), now, { campaign: hit.campaign, volume: hit.volume }, key);
        }
      } catch (e) {
        console.error('csp-lens: alerts failed:', e);
      }
    },
    idle: () => sender.idle(),
    async close() {
      await sender.close();
      for (const c of channels) c.close?.();
    },
    stats: () => ({ ...sender.stats(), suppressed: limit.suppressed() }),
  };
}
