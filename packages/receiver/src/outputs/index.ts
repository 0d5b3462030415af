import { createAlerts, type AlertsOptions, type WebhookConfig } from './alerts.js';
import type { EmailConfig } from './email.js';
import { createRules, isInlineScript, type RuleOptions, type Rules, type Signals } from './rules.js';
import { createJsonlStream } from './stream.js';
import { createSyslog, type SyslogConfig } from './syslog.js';
import type { Store, StoredViolation } from '../core/types.js';

export { emailFrom, publicUrlFrom, rulesFrom, spikeFrom, syslogFrom, webhooksFrom } from './flags.js';
export type { Signals } from './rules.js';

export interface OutputConfig {
  webhooks?: WebhookConfig[];
  email?: EmailConfig;
  syslog?: SyslogConfig;
  spike?: AlertsOptions['spike'];
  /** The campaign, volume and new-inline rules (outputs/rules.ts). */
  rules?: RuleOptions;
  /** The receiver's public base URL: alerts link to the group in the dashboard there. */
  publicUrl?: string;
  /** The routes' prefix (default /csp): the dashboard is at `{publicUrl}{prefix}/dashboard`. */
  prefix?: string;
  /** A file to append JSON lines to, or `-` for stdout. */
  stream?: string;
  onStored?: (stored: StoredViolation[]) => void;
  /** Where the new-inline rule learns the pages that already had an inline-script violation. */
  history?: Pick<Store, 'violations'>;
}

export interface Outputs {
  onStored?: (stored: StoredViolation[]) => void;
  /** What the rules fired in the last day: the dashboard's badges. */
  signals(): Signals;
  close(): Promise<void>;
}

/** Records read at most to learn the pages with an inline-script violation already. */
const SEED_RECORDS = 20_000;

async function seed(rules: Rules, history: Pick<Store, 'violations'>): Promise<void> {
  const pages: string[] = [];
  try {
    let cursor: string | undefined;
    for (let read = 0; read < SEED_RECORDS; ) {
      const page = await history.violations({ limit: 500, cursor });
      for (const r of page.items) if (isInlineScript(r)) pages.push(r.documentURL);
      read += page.items.length;
      if (!(cursor = page.next)) break;
    }
  } catch (e) {
    console.error(`csp-lens: could not read the pages already known for the new-inline rule: ${(e as Error).message}`);
  }
  rules.seed(pages);
}

/**
 * Where stored violations go after an append: alerts (webhooks, Datadog, email, syslog's alerts),
 * syslog, the JSON-lines stream, and the embedder's own `onStored`, composed into one. They get what
 * the store stored, with the record and group it decided: nothing here recomputes a group.
 */
export function openOutputs(config: OutputConfig): Outputs {
  const rules = createRules(config.rules);
  if (config.history) {
    rules.waitForSeed();
    void seed(rules, config.history);
  }
  const prefix = (config.prefix ?? '/csp').replace(/\/+$/, '');
  const link = config.publicUrl ? (id: string) => `${config.publicUrl}${prefix}/dashboard?group=${encodeURIComponent(id)}` : undefined;
  const syslog = config.syslog ? createSyslog(config.syslog) : undefined;
  const channels = syslog?.channel ? [syslog.channel] : [];
  let alerts;
  try {
    alerts = config.webhooks?.length || config.email || channels.length ? createAlerts({ webhooks: config.webhooks, email: config.email, channels, spike: config.spike, rules, link }) : undefined;
  } catch (e) {
    void syslog?.close();
    throw e;
  }
  const stream = config.stream ? createJsonlStream({ path: config.stream }) : undefined;
  // Without alerts the rules still run: the dashboard shows what they fired.
  const observe = (stored: StoredViolation[]) => {
    try {
      rules.observe(stored, Date.now());
    } catch (e) {
      console.error('csp-lens: alert rules failed:', e);
    }
  };
  // Ours never throw; the embedder's goes last so that a throw in it cannot skip ours.
  const sinks = [alerts?.onStored ?? observe, syslog?.onStored, stream?.onStored, config.onStored].filter((f) => f !== undefined);
  return {
    onStored: (v) => sinks.forEach((f) => f(v)),
    signals: () => rules.signals(Date.now()),
    async close() {
      await alerts?.close();
      await syslog?.close();
      await stream?.close();
    },
  };
}
