import type { AddressInfo } from 'node:net';
import { simpleParser, type ParsedMail } from 'mailparser';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';
import type { NormalizedViolation } from '@csp-lens/schema';
import { afterEach, describe, expect, it } from 'vitest';
import { createAlerts, type AlertsOptions } from '../../packages/receiver/src/outputs/alerts.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { storing } from '../helpers/stored.js';

// Email alerts against a real SMTP server in this process (smtp-server), on 127.0.0.1.

const T0 = Date.UTC(2026, 0, 5, 10, 0, 0);
const USER = 'alerts';
const PASS = 'p4ss-w0rd';

interface Mailbox {
  url: string;
  mails: ParsedMail[];
  /** Envelopes as the server saw them. */
  envelopes: { from: string; to: string[] }[];
  /** Resolves once `n` mails arrived. */
  received(n: number): Promise<ParsedMail[]>;
  close(): Promise<void>;
}

/** An SMTP server requiring AUTH; `reject(n)` answers the n-th DATA with an SMTP error instead. */
async function mailbox(reject: (n: number) => { code: number; message: string } | undefined = () => undefined, options: Partial<SMTPServerOptions> = {}): Promise<Mailbox> {
  const mails: ParsedMail[] = [];
  const envelopes: Mailbox['envelopes'] = [];
  const waiting: (() => void)[] = [];
  let attempts = 0;
  const server = new SMTPServer({
    disabledCommands: ['STARTTLS'],
    allowInsecureAuth: true,
    authMethods: ['PLAIN', 'LOGIN'],
    logger: false,
    onAuth(auth, _session, cb) {
      if (auth.username === USER && auth.password === PASS) cb(null, { user: USER });
      else cb(Object.assign(new Error('Invalid username or password'), { responseCode: 535 }));
    },
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', async () => {
        const refusal = reject(++attempts);
        if (refusal) return cb(Object.assign(new Error(refusal.message), { responseCode: refusal.code }));
        envelopes.push({ from: (session.envelope.mailFrom as { address: string }).address, to: session.envelope.rcptTo.map((r) => r.address) });
        mails.push(await simpleParser(Buffer.concat(chunks)));
        cb();
        for (const w of waiting.splice(0)) w();
      });
    },
    ...options,
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.server.address() as AddressInfo;
  return {
    url: `smtp://${USER}:${PASS}@127.0.0.1:${port}`,
    mails,
    envelopes,
    async received(n) {
      while (mails.length < n) await new Promise<void>((r) => waiting.push(r));
      return mails;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

function violation(over: Partial<NormalizedViolation> = {}): NormalizedViolation {
  return {
    stream: 'reportUri',
    documentURL: 'https://shop.example/checkout',
    effectiveDirective: 'connect-src',
    blockedURL: 'https://exfil.example/collect?c=1',
    disposition: 'enforce',
    occurredAt: T0,
    receivedAt: T0,
    count: 1,
    category: 'external',
    severity: 'critical',
    ...over,
  };
}

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

function alerting(box: Mailbox, options: Partial<AlertsOptions> = {}) {
  const alerts = createAlerts({
    email: { smtpUrl: box.url, to: ['security@example.com', 'oncall@example.com'], from: 'csp-lens@example.com' },
    clock: () => T0,
    sleep: async () => {},
    link: (id) => `https://csp.example.com/csp/dashboard?group=${encodeURIComponent(id)}`,
    log: () => {},
    ...options,
  });
  closers.push(() => alerts.close());
  const stored = storing();
  return { alerts, store: (vs: NormalizedViolation[]) => alerts.onStored(stored(vs)) };
}

describe('email alerts', () => {
  it('mails a critical violation: what, where, why, and a link to its group; attacker text escaped', async () => {
    const box = await mailbox();
    closers.push(box.close);
    const { alerts, store } = alerting(box);
    const hostile = '<img src=x onerror=alert(1)>"\r\nBcc: victim@example.com';
    store([violation({ sample: hostile, documentURL: `https://shop.example/checkout?q=${hostile}` })]);
    const [mail] = await box.received(1);
    await alerts.idle();
    expect(box.envelopes).toEqual([{ from: 'csp-lens@example.com', to: ['security@example.com', 'oncall@example.com'] }]);
    expect(mail.subject).toBe('[csp-lens] New CSP violation group (critical): connect-src blocked https://exfil.example');
    expect(mail.headers.get('bcc')).toBeUndefined();
    const text = mail.text!;
    expect(text).toContain('What:         connect-src blocked https://exfil.example');
    expect(text).toContain('Where:        https://shop.example/checkout?q=<img src=x onerror=alert(1)>" Bcc: victim@example.com');
    expect(text).toContain('Blocked URL:  https://exfil.example/collect?c=1');
    expect(text).toMatch(/Group: +g[0-9a-f]{16}/);
    const gid = /Group: +(g[0-9a-f]{16})/.exec(text)![1];
    expect(text).toContain(`Open the group in the dashboard: https://csp.example.com/csp/dashboard?group=${gid}`);
    // The HTML: every value escaped, the only link ours.
    const html = String(mail.html);
    expect(html).not.toContain('<img');
    expect(html).toContain('&lt;img src=x onerror=alert(1)&gt;&quot;');
    expect([...html.matchAll(/<a href="([^"]*)"/g)].map((m) => m[1])).toEqual([`https://csp.example.com/csp/dashboard?group=${gid}`]);
    expect(alerts.stats()).toMatchObject({ sent: 1, failed: 0 });
  });

  it('tries a temporary SMTP failure again, and gives up at once on a permanent one', async () => {
    const box = await mailbox((n) => (n === 1 ? { code: 451, message: 'try again later' } : n === 3 ? { code: 550, message: 'mailbox unavailable' } : undefined));
    closers.push(box.close);
    const { alerts, store } = alerting(box, { minIntervalMs: 0 });
    store([violation()]);
    await box.received(1);
    await alerts.idle();
    store([violation({ effectiveDirective: 'script-src-elem', blockedURL: 'https://skimmer.example/x.js' })]);
    await alerts.idle();
    expect(box.mails).toHaveLength(1);
    expect(alerts.stats()).toMatchObject({ sent: 1, failed: 1 });
  });

  it('sends through the CLI flags: --smtp-url, --alert-email, --public-url', async () => {
    const box = await mailbox();
    closers.push(box.close);
    const t: TestServer = await startTestServer({
      email: { smtpUrl: box.url, to: ['security@example.com'] },
      publicUrl: 'https://csp.example.com',
    });
    closers.push(() => t.close());
    const res = await t.post('/report', JSON.stringify({ 'csp-report': { 'document-uri': 'https://shop.example/pay', 'effective-directive': 'script-src-elem', 'blocked-uri': 'https://skimmer.example/x.js', 'original-policy': "script-src 'self'" } }), 'application/csp-report');
    expect(res.status).toBe(204);
    const [mail] = await box.received(1);
    const [group] = (await (await t.api('/groups')).json()).items;
    expect(mail.subject).toContain('script-src-elem blocked https://skimmer.example');
    expect(mail.text).toContain(`https://csp.example.com/csp/dashboard?group=${group.id}`);
    // From: the SMTP user is no address, so csp-lens@<this host>.
    expect(box.envelopes[0].from).toMatch(/^csp-lens@/);
  });
});
