import { hostname } from 'node:os';
import { type AlertEvent, alertBody } from './alert-body.js';
import { DEFAULT_REASONS, type Channel } from './alerts.js';
import { createSender, type SenderOptions } from './alert-send.js';
import { UDP_MAX, syslogTarget } from './syslog-transport.js';
import type { StoredViolation } from '../core/types.js';

// Syslog for SIEMs (Splunk, ELK): RFC 5424 messages, `CSP_VIOLATION: {json}` at warning level as
// the reporting guide has it, one per stored violation (`on: 'violations'`) or one per alert
// (`CSP_ALERT: {json}`, `on: 'alerts'`, with the alerts' rate limits). Off the ingest path: a bounded
// queue, a reconnect with backoff, never a wait for the collector.

export interface SyslogConfig {
  /** `udp://host:514`, `tcp://host:601` or `tls://host:6514`. */
  url: string;
  /** Every stored violation, or the alerts only. Default violations. */
  on?: 'violations' | 'alerts';
  /** A facility name (`local0` … `local7`, `user`, `security` …) or number. Default local0. */
  facility?: string | number;
  /** APP-NAME. Default csp-lens. */
  appName?: string;
  /** HOSTNAME. Default this machine's name. */
  hostname?: string;
  /** A PEM CA for a tls:// collector (a private CA). */
  ca?: string;
}

const FACILITIES = ['kern', 'user', 'mail', 'daemon', 'auth', 'syslog', 'lpr', 'news', 'uucp', 'cron', 'authpriv', 'ftp', 'ntp', 'security', 'console', 'clock', 'local0', 'local1', 'local2', 'local3', 'local4', 'local5', 'local6', 'local7'];
const WARNING = 4;
// RFC 5424 §7.2.2: an SD-ID of our own needs an enterprise number; 32473 is the one RFC 5612
// reserves for documentation and examples (csp-lens has none registered).
const SD_ID = 'csp@32473';

const fail = (m: string): never => {
  throw new Error(`csp-lens: ${m}`);
};

/** The facility's number, from a name or a number (0 to 23). */
export function facilityOf(f: string | number | undefined): number {
  if (f === undefined || f === '') return 16;
  const n = typeof f === 'number' || /^\d+$/.test(f) ? Number(f) : FACILITIES.indexOf(String(f).toLowerCase());
  if (!Number.isInteger(n) || n < 0 || n > 23) fail(`--syslog-facility must be ${FACILITIES.join(', ')} or 0 to 23, got ${JSON.stringify(f)}`);
  return n;
}

/** The flags' mistakes, before anything is opened. */
export function checkSyslog(c: SyslogConfig): URL {
  const url = URL.canParse(c.url) ? new URL(c.url) : undefined;
  if (!url || !['udp:', 'tcp:', 'tls:'].includes(url.protocol) || !url.hostname || !url.port) {
    fail(`--syslog must be udp://host:514, tcp://host:601 or tls://host:6514, got ${JSON.stringify(c.url)}`);
  }
  if (c.on !== undefined && c.on !== 'violations' && c.on !== 'alerts') fail('--syslog-on must be violations or alerts');
  facilityOf(c.facility);
  if (c.appName !== undefined && !/^[!-~]{1,48}$/.test(c.appName)) fail('--syslog-app-name must be 1 to 48 printable ASCII characters, no spaces');
  if (c.ca && url!.protocol !== 'tls:') fail('--syslog-ca is for a tls:// collector');
  return url!;
}

/** A header field (RFC 5424 §6.2): printable ASCII, no spaces, bounded; `-` when empty. */
const field = (s: string, max: number) => s.replace(/[^!-~]/g, '').slice(0, max) || '-';

/** A PARAM-VALUE (§6.3.3): `"`, `\` and `]` escaped; control characters dropped; cut. */
const param = (v: unknown) => String(v ?? '').slice(0, 256).replace(/[\u0000-\u001f\u007f]/g, '').replace(/["\\\]]/g, (c) => `\\${c}`);

/** JSON in printable ASCII: valid JSON still, a MSG without a BOM (§6.4), nothing a collector can split on. */
const asciiJson = (value: unknown) => JSON.stringify(value).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);

export function syslogFormatter(c: Pick<SyslogConfig, 'facility' | 'appName' | 'hostname'>, pid = process.pid) {
  const pri = facilityOf(c.facility) * 8 + WARNING;
  const head = (at: number, msgid: string, sd: Record<string, unknown>) =>
    `<${pri}>1 ${new Date(at).toISOString()} ${field(c.hostname ?? hostname(), 255)} ${field(c.appName ?? 'csp-lens', 48)} ${pid} ${field(msgid, 32)} ` +
    `[${SD_ID}${Object.entries(sd).filter(([, v]) => v !== undefined && v !== '').map(([k, v]) => ` ${k}="${param(v)}"`).join('')}]`;
  return {
    /** One stored violation: what the JSON-lines stream writes, less the policy text (KBs, the same every time). */
    violation({ violation: v, record, group }: StoredViolation, udp = false): string {
      const { originalPolicy: _policy, ...rest } = v;
      let body: Record<string, unknown> = { at: new Date(v.occurredAt).toISOString(), groupId: record.groupId, recordId: record.id, policyHash: record.policyHash, ...rest };
      const sd = { group: group.id, record: record.id, directive: v.effectiveDirective, severity: v.severity, blocked: group.blocked, document: v.documentURL };
      let line = `${head(v.occurredAt, 'violation', sd)} CSP_VIOLATION: ${asciiJson(body)}`;
      if (udp && Buffer.byteLength(line) > UDP_MAX) {
        // One datagram: the SDK's context goes, long values are cut, and the message says so.
        const { page: _p, element: _e, ...short } = body;
        body = Object.fromEntries(Object.entries(short).map(([k, val]) => [k, typeof val === 'string' ? val.slice(0, 512) : val]));
        line = `${head(v.occurredAt, 'violation', sd)} CSP_VIOLATION: ${asciiJson({ ...body, truncated: true })}`;
      }
      return line;
    },
    alert(e: AlertEvent): string {
      const sd = { reason: e.reason, group: e.group.id, directive: e.group.effectiveDirective, severity: e.group.severity, blocked: e.group.blocked, document: e.violation.documentURL };
      return `${head(Date.parse(e.at), e.reason, sd)} CSP_ALERT: ${asciiJson(JSON.parse(alertBody('json', e)))}`;
    },
  };
}

export interface Syslog {
  /** Violations mode: every stored violation. */
  onStored?(stored: StoredViolation[]): void;
  /** Alerts mode: a destination for createAlerts. */
  channel?: Channel<string>;
  close(): Promise<void>;
  stats(): { sent: number; failed: number; dropped: number };
}

export function createSyslog(c: SyslogConfig, o: SenderOptions = {}): Syslog {
  const url = checkSyslog(c);
  const target = syslogTarget(url, { ca: c.ca, timeoutMs: o.timeoutMs });
  const format = syslogFormatter(c);
  if (c.on === 'alerts') {
    const channel: Channel<string> = { on: DEFAULT_REASONS, target, payload: (e) => format.alert(e), close: () => target.close() };
    return { channel, close: async () => target.close(), stats: () => ({ sent: 0, failed: 0, dropped: 0 }) };
  }
  // A collector that is down holds messages up to the queue's bound, tried until it is back.
  const sender = createSender({ maxQueue: 10_000, maxAttempts: Infinity, backoffMs: 500, maxBackoffMs: 30_000, ...o });
  const udp = url.protocol === 'udp:';
  return {
    onStored(stored) {
      for (const s of stored) sender.enqueue(0, target, () => format.violation(s, udp));
    },
    async close() {
      // What is queued gets a moment to go out, then the connection closes.
      await Promise.race([sender.idle(), new Promise((r) => setTimeout(r, 2_000).unref())]);
      await sender.close();
      target.close();
    },
    stats: () => sender.stats(),
  };
}
