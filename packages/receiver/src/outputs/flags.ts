import { ALERT_REASONS, DEFAULT_REASONS, isHttpUrl, type AlertReason, type AlertsOptions, type WebhookConfig } from './alerts.js';
import { checkEmail, type EmailConfig } from './email.js';
import { checkSyslog, type SyslogConfig } from './syslog.js';
import type { RuleOptions } from './rules.js';

// The CLI's output flags as output configuration: each mistake one line naming the flag.

const fail = (m: string): never => {
  throw new Error(`csp-lens: ${m}`);
};

/** A repeatable flag's values (repeated, or comma-separated). */
const list = (values: unknown): string[] =>
  [values ?? []].flat().flatMap((u) => String(u).split(',')).map((u) => u.trim()).filter(Boolean);

function reasons(flag: string, on: string): AlertReason[] {
  const rs = list(on) as AlertReason[];
  for (const r of rs) if (!ALERT_REASONS.includes(r)) fail(`--${flag} takes ${ALERT_REASONS.join(', ')}; got ${JSON.stringify(r)}`);
  return rs.length ? rs : DEFAULT_REASONS;
}

/** `--webhook` (repeated, or comma-separated) with `--webhook-format` and `--webhook-on`; Datadog's key from DD_API_KEY. */
export function webhooksFrom(urls: unknown, format: string, on: string, ddApiKey?: string): WebhookConfig[] | undefined {
  const hooks = list(urls);
  if (!hooks.length) return undefined;
  if (format && !['slack', 'json', 'datadog'].includes(format)) fail('--webhook-format must be slack, json or datadog');
  if (format === 'datadog' && !ddApiKey) fail('--webhook-format datadog needs the API key in the environment: DD_API_KEY');
  const rs = reasons('webhook-on', on);
  return hooks.map((url) => {
    if (!isHttpUrl(url)) fail(`--webhook must be an http(s) URL, got ${JSON.stringify(url)}`);
    // Unset: Slack's body for Slack's hooks (also what Mattermost and others accept), JSON elsewhere.
    const f = (format || (new URL(url).hostname.endsWith('slack.com') ? 'slack' : 'json')) as WebhookConfig['format'];
    return { url, format: f, on: rs, ...(f === 'datadog' ? { headers: { 'DD-API-KEY': ddApiKey! } } : {}) };
  });
}

/** `--spike-factor`, `--spike-min`; unset means the defaults of createAlerts. */
export function spikeFrom(factor: string, minCount: string): AlertsOptions['spike'] | undefined {
  if (!factor && !minCount) return undefined;
  const f = Number(factor || 10);
  const m = Number(minCount || 50);
  if (!(f > 1)) fail(`--spike-factor must be a number above 1, got ${JSON.stringify(factor)}`);
  if (!Number.isInteger(m) || m < 1) fail(`--spike-min must be an integer ≥ 1, got ${JSON.stringify(minCount)}`);
  return { factor: f, minCount: m };
}

/** `--smtp-url` with `--alert-email` (repeatable), `--email-from`, `--email-on`, `--smtp-ca`. */
export function emailFrom(smtpUrl: string, to: unknown, from: string, on: string, ca?: string): EmailConfig | undefined {
  const recipients = list(to);
  if (!smtpUrl) {
    if (recipients.length) fail('--alert-email needs --smtp-url (the server that sends the mail)');
    return undefined;
  }
  const config: EmailConfig = { smtpUrl, to: recipients, on: reasons('email-on', on), ...(from ? { from } : {}), ...(ca ? { ca } : {}) };
  checkEmail(config);
  return config;
}

/** `--syslog` with `--syslog-on`, `--syslog-facility`, `--syslog-app-name`, `--syslog-ca`. */
export function syslogFrom(url: string, on: string, facility: string, appName: string, ca?: string): SyslogConfig | undefined {
  if (!url) return undefined;
  const config: SyslogConfig = { url, on: (on || 'violations') as SyslogConfig['on'], facility: facility || undefined, ...(appName ? { appName } : {}), ...(ca ? { ca } : {}) };
  checkSyslog(config);
  return config;
}

function count(flag: string, value: string, max = Number.MAX_SAFE_INTEGER): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 1 || n > max) fail(`--${flag} must be an integer from 1 to ${max}, got ${JSON.stringify(value)}`);
  return n;
}

/** `--campaign-clients`, `--campaign-window`, `--volume-max`, `--volume-scope`; unset: the defaults of rules.ts. */
export function rulesFrom(clients: string, windowMs: string, volumeMax: string, scope: string): RuleOptions | undefined {
  if (!clients && !windowMs && !volumeMax && !scope) return undefined;
  if (scope && scope !== 'store' && scope !== 'group') fail('--volume-scope must be store or group');
  return {
    campaign: { ...(clients ? { clients: count('campaign-clients', clients, 1000) } : {}), ...(windowMs ? { windowMs: count('campaign-window', windowMs) } : {}) },
    volume: { ...(volumeMax ? { max: count('volume-max', volumeMax) } : {}), ...(scope ? { scope: scope as 'store' | 'group' } : {}) },
  };
}

/** `--public-url`: the receiver's address as its users reach it (alerts link to the dashboard there). */
export function publicUrlFrom(url: string): string | undefined {
  if (!url) return undefined;
  if (!isHttpUrl(url) || new URL(url).search || new URL(url).hash) fail(`--public-url must be the receiver's http(s) address, like https://csp.example.com, got ${JSON.stringify(url)}`);
  // As the URL parser writes it: the links built on it are well-formed wherever they go.
  return new URL(url).href.replace(/\/+$/, '');
}
