import { DeliveryError, type Target } from './alert-send.js';

/** Retry-After in seconds (RFC 9110 §10.2.3); HTTP dates are rare on webhooks and ignored. */
const retryAfter = (res: Response) => {
  const s = Number(res.headers.get('retry-after'));
  return Number.isFinite(s) && s > 0 ? s * 1000 : 0;
};

export interface WebhookTargetOptions {
  fetch?: typeof fetch;
  /** Per request. Default 10 s. */
  timeoutMs?: number;
  /** Sent with every request (Datadog's DD-API-KEY). */
  headers?: Record<string, string>;
}

/** A webhook: a JSON POST, never following a redirect (the URL is the operator's, a redirect is not). */
export function webhookTarget(url: string, o: WebhookTargetOptions = {}): Target<string> {
  const doFetch = o.fetch ?? fetch;
  return {
    name: `webhook ${new URL(url).host}`,
    async deliver(body, signal) {
      const res = await doFetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'user-agent': 'csp-lens', ...o.headers },
        body,
        redirect: 'error',
        signal: AbortSignal.any([signal, AbortSignal.timeout(o.timeoutMs ?? 10_000)]),
      });
      await res.body?.cancel().catch(() => undefined);
      if (res.ok) return;
      // Other 4xx mean the request itself is wrong (a revoked Slack hook says 404/410): don't insist.
      throw new DeliveryError(`HTTP ${res.status}`, res.status === 429 || res.status === 408 || res.status >= 500, retryAfter(res));
    },
  };
}
