import { type AlertEvent, TITLES, because } from './alert-body.js';

// A Datadog event (Events API v1, POST /api/v1/events): title, text, tags, alert_type. Posted to
// the URL given as --webhook with --webhook-format datadog; the API key comes from DD_API_KEY and
// goes in the DD-API-KEY header (server/config.ts).

const TITLE_MAX = 100;
const TEXT_MAX = 4000;

/**
 * Attacker text in an event's plain text: an `@handle` there notifies whoever it names (a user, a
 * Slack channel, PagerDuty), so a zero-width joiner follows every `@`; newlines would forge extra
 * lines; control characters go.
 */
export function datadogEscape(value: unknown, max = 300): string {
  return String(value ?? '')
    .slice(0, max)
    .replace(/@/g, '@\u200d')
    .replace(/[\r\n\u2028\u2029]+/g, ' ')
    .replace(/[\u0000-\u001f\u007f]/g, '');
}

/** A tag as Datadog keeps one: lowercase, letters, digits and `_-:./`, at most 200 characters. */
export const tag = (name: string, value: unknown): string => `${name}:${String(value ?? '').toLowerCase().replace(/[^a-z0-9_\-:./]/g, '_')}`.slice(0, 200);

function alertType(e: AlertEvent): 'error' | 'warning' | 'info' {
  if (e.reason === 'campaign' || e.group.severity === 'critical') return 'error';
  if (e.group.severity === 'high' || e.reason === 'spike' || e.reason === 'volume') return 'warning';
  return 'info';
}

export function datadogBody(e: AlertEvent): string {
  const v = e.violation;
  const g = e.group;
  const lines = [
    `Directive: ${datadogEscape(g.effectiveDirective)}, blocked: ${datadogEscape(g.blocked)} (${g.severity})`,
    `Document: ${datadogEscape(v.documentURL)}`,
    v.blockedURL ? `Blocked URL: ${datadogEscape(v.blockedURL)}` : '',
    v.sourceFile ? `Source: ${datadogEscape(`${v.sourceFile}${v.lineNumber ? `:${v.lineNumber}` : ''}`)}` : '',
    v.sample ? `Sample: ${datadogEscape(v.sample)}` : '',
    because(e) ? `Why: ${datadogEscape(because(e))}` : '',
    e.suppressed ? `(${e.suppressed} more ${e.reason} alerts were held back by the rate limit)` : '',
    `Group: ${g.id}${e.link ? ` ${e.link}` : ''}`,
  ].filter(Boolean);
  return JSON.stringify({
    title: datadogEscape(`${TITLES[e.reason]}: ${g.effectiveDirective} blocked ${g.blocked}`, TITLE_MAX),
    text: lines.join('\n').slice(0, TEXT_MAX),
    tags: ['security:csp', tag('directive', g.effectiveDirective), tag('severity', g.severity), tag('csp_alert', e.reason), tag('csp_group', g.id), tag('csp_category', g.category)],
    alert_type: alertType(e),
    // One event stream per group in Datadog's event explorer.
    aggregation_key: g.id.slice(0, 100),
    date_happened: Math.floor(Date.parse(e.at) / 1000),
  });
}
