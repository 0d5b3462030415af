import { hostname } from 'node:os';
import { DeliveryError, type Target } from './alert-send.js';
import type { EmailContent } from './alert-email.js';
import type { AlertReason } from './alert-body.js';

export interface EmailConfig {
  /** `smtp://user:pass@host:587` (STARTTLS when the server offers it) or `smtps://user:pass@host:465`. */
  smtpUrl: string;
  to: string[];
  /** Default: the SMTP user when it is an address, else csp-lens@<this host>. */
  from?: string;
  /** Default: every alert kind but volume. */
  on?: AlertReason[];
  /** A PEM CA to trust for the SMTP server's certificate (a private CA); the system's otherwise. */
  ca?: string;
}

const ADDRESS = /^[^\s@<>,;:"()[\]\\]+@[^\s@<>,;:"()[\]\\]+$/;

/** The flags' mistakes, before anything is opened. */
export function checkEmail(c: EmailConfig): void {
  if (!URL.canParse(c.smtpUrl) || !/^smtps?:$/.test(new URL(c.smtpUrl).protocol) || !new URL(c.smtpUrl).hostname) {
    throw new Error('csp-lens: --smtp-url must be smtp://user:pass@host:port or smtps://user:pass@host:port');
  }
  if (!c.to.length) throw new Error('csp-lens: --smtp-url needs --alert-email (the address alerts go to)');
  for (const a of c.to) if (!ADDRESS.test(a)) throw new Error(`csp-lens: --alert-email must be an address like security@example.com, got ${JSON.stringify(a.slice(0, 100))}`);
  if (c.from !== undefined && !ADDRESS.test(c.from)) throw new Error(`csp-lens: --email-from must be an address, got ${JSON.stringify(c.from.slice(0, 100))}`);
}

function defaultFrom(url: URL): string {
  const user = decodeURIComponent(url.username);
  return ADDRESS.test(user) ? user : `csp-lens@${hostname()}`;
}

/**
 * Alerts by email through one pooled SMTP connection (nodemailer). A 4xx reply or a lost
 * connection is tried again; a 5xx reply (a refused address, a failed login) is not.
 */
export function emailTarget(c: EmailConfig, timeoutMs = 10_000): Target<EmailContent> & { close(): void } {
  checkEmail(c);
  const url = new URL(c.smtpUrl);
  const from = c.from ?? defaultFrom(url);
  // Loaded with the first alert: a receiver that sends no mail never loads nodemailer.
  let transport: Promise<{ sendMail(message: object): Promise<unknown>; close(): void }> | undefined;
  let closed = false;
  const open = async () => {
    const { default: nodemailer } = await import('nodemailer');
    return nodemailer.createTransport({
      pool: true,
      maxConnections: 1,
      url: c.smtpUrl,
      connectionTimeout: timeoutMs,
      greetingTimeout: timeoutMs,
      socketTimeout: 6 * timeoutMs,
      ...(c.ca ? { tls: { ca: c.ca } } : {}),
    });
  };
  return {
    name: `email via ${url.host}`,
    async deliver(content) {
      if (closed) throw new DeliveryError('closed', false);
      const t = await (transport ??= open().catch((e: Error) => {
        transport = undefined;
        throw e;
      }));
      try {
        await t.sendMail({ from, to: c.to, subject: content.subject, text: content.text, html: content.html, headers: { 'Auto-Submitted': 'auto-generated' } });
      } catch (e) {
        const err = e as Error & { responseCode?: number; code?: string };
        const permanent = (err.responseCode ?? 0) >= 500 || err.code === 'EAUTH';
        throw new DeliveryError(err.message, !permanent);
      }
    },
    close() {
      closed = true;
      void transport?.then((t) => t.close());
    },
  };
}
