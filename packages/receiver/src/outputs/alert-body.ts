import type { NormalizedViolation, ViolationGroup } from '@csp-lens/schema';

export type AlertReason = 'new-group' | 'regression' | 'critical' | 'spike' | 'campaign' | 'volume' | 'new-inline';
export type AlertFormat = 'slack' | 'json' | 'datadog';

export type AlertGroup = Pick<ViolationGroup, 'id' | 'fingerprint' | 'effectiveDirective' | 'category' | 'blocked' | 'severity'> & { sourceFile?: string };

/** One alert: why, about which group, the violation that set it off. */
export interface AlertEvent {
  reason: AlertReason;
  group: AlertGroup;
  violation: NormalizedViolation;
  /** ISO time of the alert. */
  at: string;
  spike?: { count: number; average: number };
  /** The group came from more than `max` distinct clients within `windowMs` (outputs/rules.ts). */
  campaign?: { clients: number; max: number; windowMs: number };
  /** More than `max` violations within the last hour, store-wide or in this group. */
  volume?: { count: number; max: number; scope: 'store' | 'group' };
  /** Alerts of this reason the rate limits held back (for any group) since the last one sent. */
  suppressed?: number;
  /** regression: the resolution the group came back from (`by` and `release` are the resolver's free text). */
  regression?: { resolvedAt: number; by?: string; resolvedIn?: string; release?: string };
  /** The group in the dashboard (`--public-url`). */
  link?: string;
}

export const TITLES: Record<AlertEvent['reason'], string> = {
  'new-group': 'New CSP violation group',
  regression: 'Regression: a resolved CSP violation group is back',
  critical: 'Critical CSP violation',
  spike: 'CSP violation spike',
  campaign: 'Likely attack campaign',
  volume: 'CSP violation volume',
  'new-inline': 'First inline script violation on a page',
};

/** Why the alert fired, in a sentence, when the reason has numbers to it. */
export function because(e: AlertEvent): string {
  if (e.spike) return `${e.spike.count} this hour vs ${e.spike.average.toFixed(1)}/h before`;
  if (e.campaign) return `the same violation from ${e.campaign.clients} distinct clients within ${Math.round(e.campaign.windowMs / 60_000)} min (more than ${e.campaign.max})`;
  if (e.volume) return `${e.volume.count} violations in the last hour${e.volume.scope === 'store' ? ' across all groups' : ' in this group'} (more than ${e.volume.max})`;
  if (e.reason === 'new-inline') return 'no inline script violation was seen on this page before';
  if (e.regression) {
    const r = e.regression;
    return `resolved ${new Date(r.resolvedAt).toISOString()}${r.by ? ` by ${r.by}` : ''}${r.resolvedIn ? ` in release ${r.resolvedIn}` : ''}; seen again ${r.release ? `in release ${r.release}` : 'on a page without a release'}`;
  }
  return '';
}

/**
 * Attacker text inside Slack mrkdwn: `&`, `<`, `>` are Slack's control characters (`<!channel>`,
 * `<@U123>`, `<https://x|label>`; https://api.slack.com/reference/surfaces/formatting#escaping).
 * A zero-width joiner after `@` keeps `@channel`/`@here`/`@name` from reading as a mention, and
 * backticks would end the code span the value sits in. Newlines would forge extra lines.
 */
export function slackEscape(value: unknown, max = 300): string {
  const s = String(value ?? '').slice(0, max);
  return s
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/@/g, '@\u200d')
    .replace(/`/g, "'")
    .replace(/[\r\n\u2028\u2029]+/g, ' ');
}

// Values go in code spans: Slack neither links nor formats them there.
const code = (v: unknown) => `\`${slackEscape(v) || '-'}\``;

function regressionLine(r: NonNullable<AlertEvent['regression']>): string {
  const resolved = `Resolved ${new Date(r.resolvedAt).toISOString()}${r.by ? ` by ${code(r.by)}` : ''}${r.resolvedIn ? ` in release ${code(r.resolvedIn)}` : ''}`;
  return `${resolved}; seen again ${r.release ? `in release ${code(r.release)}` : 'on a page without a release'}`;
}

function slack(e: AlertEvent): object {
  const v = e.violation;
  const g = e.group;
  const head = `*${TITLES[e.reason]}* (${g.severity}): ${code(g.effectiveDirective)} blocked ${code(g.blocked)}`;
  const lines = [
    head,
    `Document: ${code(v.documentURL)}`,
    v.blockedURL ? `Blocked URL: ${code(v.blockedURL)}` : '',
    v.sourceFile ? `Source: ${code(`${v.sourceFile}${v.lineNumber ? `:${v.lineNumber}` : ''}`)}` : '',
    v.sample ? `Sample: ${code(v.sample)}` : '',
    // A regression's names go in code spans of their own; every other reason's why is numbers.
    e.regression ? regressionLine(e.regression) : because(e) ? `Why: ${slackEscape(because(e))}` : '',
    e.suppressed ? `(${e.suppressed} more ${e.reason} alerts, of this or other groups, were held back by the rate limit)` : '',
  ].filter(Boolean);
  const text = lines.join('\n');
  return {
    text,
    blocks: [
      { type: 'section', text: { type: 'mrkdwn', text } },
      { type: 'context', elements: [{ type: 'mrkdwn', text: `csp-lens · group ${code(g.id)} · ${e.at}${e.link ? ` · <${e.link}|open in the dashboard>` : ''}` }] },
    ],
    // The URLs are the attacker's: Slack must not fetch them to build previews.
    unfurl_links: false,
    unfurl_media: false,
  };
}

function json(e: AlertEvent): object {
  const { originalPolicy: _policy, ...violation }: NormalizedViolation = e.violation;
  return {
    event: e.reason,
    group: e.group,
    violation,
    at: e.at,
    ...(e.spike ? { spike: e.spike } : {}),
    ...(e.campaign ? { campaign: e.campaign } : {}),
    ...(e.volume ? { volume: e.volume } : {}),
    ...(e.suppressed ? { suppressed: e.suppressed } : {}),
    ...(e.regression ? { regression: e.regression } : {}),
    ...(e.link ? { link: e.link } : {}),
  };
}

/** Slack's or the generic JSON body (Datadog's: alert-datadog.ts). */
export const alertBody = (format: 'slack' | 'json', e: AlertEvent): string => JSON.stringify(format === 'slack' ? slack(e) : json(e));
