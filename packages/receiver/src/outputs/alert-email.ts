import { type AlertEvent, TITLES, because } from './alert-body.js';

// An alert as an email: a subject, a plain-text body and an HTML one that say what happened, where,
// why it alerted and where to look (the group in the dashboard, with --public-url). Every value but
// the link comes from a report: cut, kept on one line, and escaped in the HTML.

export interface EmailContent {
  subject: string;
  text: string;
  html: string;
}

/** Attacker text on one line: no line breaks to forge lines (or headers) with, no controls, cut. */
export function oneLine(value: unknown, max = 300): string {
  const s = String(value ?? '').replace(/[\r\n\u2028\u2029]+/g, ' ').replace(/[\u0000-\u001f\u007f]/g, '');
  return s.length > max ? `${s.slice(0, max)}…` : s;
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
export const htmlEscape = (s: string): string => s.replace(/[&<>"']/g, (c) => ESCAPES[c]!);

/** The facts of an alert, label and value, the same in both bodies. */
function facts(e: AlertEvent): [string, string][] {
  const v = e.violation;
  const g = e.group;
  const rows: [string, string | undefined][] = [
    ['What', `${g.effectiveDirective} blocked ${g.blocked}${g.sourceFile ? ` in ${g.sourceFile}` : ''}`],
    ['Severity', g.severity],
    ['Where', v.documentURL],
    ['Blocked URL', v.blockedURL],
    ['Source', v.sourceFile ? `${v.sourceFile}${v.lineNumber ? `:${v.lineNumber}${v.columnNumber ? `:${v.columnNumber}` : ''}` : ''}` : undefined],
    ['Sample', v.sample],
    ['Disposition', v.disposition === 'report' ? 'report-only (not blocked for the user)' : v.disposition === 'enforce' ? 'enforced (blocked)' : undefined],
    ['Why', because(e) || undefined],
    ['When', new Date(v.occurredAt).toISOString()],
    ['Group', g.id],
  ];
  return rows.filter((r): r is [string, string] => !!r[1]).map(([k, val]) => [k, oneLine(val)]);
}

export function emailContent(e: AlertEvent): EmailContent {
  const title = TITLES[e.reason];
  const g = e.group;
  const rows = facts(e);
  const held = e.suppressed ? `${e.suppressed} more ${e.reason} alert(s), of this or other groups, were held back by the rate limit.` : '';
  const text = [
    `${title} (${g.severity})`,
    '',
    ...rows.map(([k, v]) => `${`${k}:`.padEnd(13)} ${v}`),
    '',
    e.link ? `Open the group in the dashboard: ${e.link}` : 'Open the dashboard and look for this group id (set --public-url for a link here).',
    held,
    '',
    '-- ',
    'csp-lens',
  ].filter((l, i, all) => l || all[i - 1]);
  const cell = 'padding:4px 12px 4px 0;vertical-align:top;text-align:left';
  const html = [
    '<!doctype html><html><body style="font-family:sans-serif;font-size:14px;color:#1b1f24">',
    `<h2 style="font-size:18px">${htmlEscape(title)} <span style="color:#8a2b06">(${htmlEscape(g.severity)})</span></h2>`,
    '<table style="border-collapse:collapse">',
    ...rows.map(([k, v]) => `<tr><th style="${cell}">${htmlEscape(k)}</th><td style="${cell}"><code>${htmlEscape(v)}</code></td></tr>`),
    '</table>',
    e.link ? `<p><a href="${htmlEscape(e.link)}">Open the group in the dashboard</a></p>` : '',
    held ? `<p style="color:#57606a">${htmlEscape(held)}</p>` : '',
    '<p style="color:#57606a">csp-lens</p>',
    '</body></html>',
  ].filter(Boolean).join('\n');
  return { subject: oneLine(`[csp-lens] ${title} (${g.severity}): ${g.effectiveDirective} blocked ${g.blocked}`, 200), text: text.join('\n'), html };
}
