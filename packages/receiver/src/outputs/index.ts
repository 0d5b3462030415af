import { ALERT_REASONS, createAlerts, isHttpUrl, type AlertReason, type AlertsOptions, type WebhookConfig } from './alerts.js';
import { createJsonlStream } from './stream.js';
import type { StoredViolation } from '../core/types.js';

export interface OutputConfig {
  webhooks?: WebhookConfig[];
  spike?: AlertsOptions['spike'];
  /** A file to append JSON lines to, or `-` for stdout. */
  stream?: string;
  onStored?: (stored: StoredViolation[]) => void;
}

export interface Outputs {
  onStored?: (stored: StoredViolation[]) => void;
  close(): Promise<void>;
}

/**
 * Where stored violations go after an append: webhooks (alerts), the JSON-lines stream, and the
 * embedder's own `onStored`, composed into one. They get what the store stored, with the record and
 * group it decided: nothing here recomputes a group.
 */
export function openOutputs(config: OutputConfig): Outputs {
  const alerts = config.webhooks?.length ? createAlerts({ webhooks: config.webhooks, spike: config.spike }) : undefined;
  const stream = config.stream ? createJsonlStream({ path: config.stream }) : undefined;
  // Ours never throw; the embedder's goes last so that a throw in it cannot skip ours.
  const sinks = [alerts?.onStored, stream?.onStored, config.onStored].filter((f) => f !== undefined);
  return {
    onStored: sinks.length ? (v) => sinks.forEach((f) => f(v)) : undefined,
    async close() {
      await alerts?.close();
      await stream?.close();
    },
  };
}

const fail = (m: string): never => {
  throw new Error(`csp-lens: ${m}`);
};

/** `--webhook` (repeated, or comma-separated) with `--webhook-format` and `--webhook-on`. */
export function webhooksFrom(urls: unknown, format: string, on: string): WebhookConfig[] | undefined {
  const list = [urls ?? []].flat().flatMap((u) => String(u).split(',')).map((u) => u.trim()).filter(Boolean);
  if (!list.length) return undefined;
  if (format && format !== 'slack' && format !== 'json') fail('--webhook-format must be slack or json');
  const reasons = on.split(',').map((r) => r.trim()).filter(Boolean) as AlertReason[];
  for (const r of reasons) if (!ALERT_REASONS.includes(r)) fail(`--webhook-on takes ${ALERT_REASONS.join(', ')}; got ${JSON.stringify(r)}`);
  return list.map((url) => {
    if (!isHttpUrl(url)) fail(`--webhook must be an http(s) URL, got ${JSON.stringify(url)}`);
    // Unset: Slack's body for Slack's hooks (also what Mattermost and others accept), JSON elsewhere.
    const f = (format || (new URL(url).hostname.endsWith('slack.com') ? 'slack' : 'json')) as WebhookConfig['format'];
    return { url, format: f, on: reasons };
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
