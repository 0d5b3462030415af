import type Koa from 'koa';
import type Router from '@koa/router';
import { koaBody } from 'koa-body';
import { ClientError } from '../core/errors.js';
import type { IngestBatch, NoiseFilter, RequestMeta, StoredViolation } from '../core/types.js';
import type { WatchedStore } from '../store/health.js';
import { parseBody, REPORT_TYPES, SDK_TYPES } from '../core/parse.js';
import { normalizeNative, normalizeSdk } from '../core/normalize.js';
import { bump } from '../core/fields.js';
import { scrubBatch } from '../core/scrub.js';
import { memoize } from '../core/hash.js';
import { anonymizeIp, type IpMode } from './ip.js';
import type { BodyBudget } from './budget.js';
import { createGuard } from './guard.js';



export interface IngestDeps {
  store: WatchedStore;
  filter: NoiseFilter;
  /** Scrubs secrets out of a URL (core/scrub.ts); undefined: scrub nothing. */
  scrub?: (url: string) => string;
  clock: () => number;
  /** Largest accepted body, in bytes. */
  bodyLimit: number;
  ipMode: IpMode;
  ipSalt: string;
  /** The Access-Control-Allow-Origin for a request's Origin; undefined: that origin may not post. */
  allowOrigin: (origin: string | undefined) => string | undefined;
  /** Who counts as one client (clientKey: an IPv6 /64 is one). */
  clientOf: (ip: string) => string;
  rateLimit: (client: string) => number;
  bodies: BodyBudget;
  onStored?: (stored: StoredViolation[]) => void;
}

/** JSON errors with the right status for anything a client did wrong; never a 5xx for bad input. */
export async function jsonErrors(ctx: Koa.Context, next: Koa.Next): Promise<void> {
  try {
    await next();
  } catch (e) {
    const err = e as { status?: number; expose?: boolean; message?: string; type?: string };
    const status = e instanceof ClientError ? e.status : err.status && err.status >= 400 && err.status < 500 ? err.status : 500;
    ctx.status = status;
    ctx.body = { error: status === 500 ? 'internal error' : describe(err) };
    // A body left unread (over the limit, rate-limited) ends this connection: say so, or a
    // keep-alive client reuses the socket as it closes and its next request dies with a reset.
    if (!ctx.req.complete) ctx.set('Connection', 'close');
    if (status === 500) ctx.app.emit('error', e, ctx);
  }
}

function describe(err: { status?: number; message?: string; type?: string }): string {
  if (err.type === 'entity.too.large') return 'body exceeds the size limit';
  if (err.type === 'request.aborted') return 'request aborted';
  if (err.type === 'encoding.unsupported') return 'unsupported content encoding';
  return err.message ?? 'bad request';
}

// Garbage sent as Content-Encoding gzip/deflate/br fails in zlib, whose errors carry no status:
// still the client's broken body, so a 400, not a 500.
function bodyError(e: Error & { status?: number }): never {
  if (e.status) throw e;
  throw new ClientError(400, `body could not be decoded: ${String(e.message).slice(0, 100)}`);
}

export function mountIngest(router: Router, deps: IngestDeps): void {
  const read = (types: string[]) =>
    koaBody({ json: false, urlencoded: false, multipart: false, text: true, textTypes: types, textLimit: deps.bodyLimit, encoding: 'utf-8', onError: bodyError });

  const { cors, guard } = createGuard(deps);

  // A client sends many reports: its IP is parsed (and in hash mode hashed) once, not per request.
  const clientIp = memoize((ip) => anonymizeIp(ip, deps.ipMode, deps.ipSalt), 4096);

  const meta = (ctx: Koa.Context): RequestMeta => ({
    receivedAt: deps.clock(),
    userAgent: ctx.get('user-agent') || undefined,
    clientIp: clientIp(ctx.ip),
  });

  const store = async (ctx: Koa.Context, batch: IngestBatch): Promise<void> => {
    // Before anything else sees the URLs: the filter, the journal, the store, alerts, the stream.
    scrubBatch(batch, deps.scrub);
    const filtered: Record<string, number> = {};
    const kept = batch.violations.filter((v) => {
      const rule = deps.filter(v);
      if (rule) bump(filtered, rule);
      return !rule;
    });
    // Acknowledged once durable: the file store's journal holds the batch before it is merged.
    let acknowledge!: () => void;
    const durable = new Promise<void>((resolve) => (acknowledge = resolve));
    const stored = deps.store.append({ ...batch, violations: kept }, filtered, { onDurable: acknowledge });
    stored.then(
      (s) => deps.onStored?.(s),
      // Durable but not merged: a bug; a restart replays it. Otherwise the 503 below says it.
      (e) => void durable.then(() => ctx.app.emit('error', e)),
    );
    try {
      await Promise.race([durable, stored]);
    } catch (e) {
      ctx.app.emit('error', e, ctx);
      ctx.status = 503;
      ctx.body = { error: 'storage unavailable; retry later' };
      return;
    }
    // 204 for every batch that parses, filtered reports included: anything else makes Chromium
    // retry the whole batch and back off the endpoint.
    ctx.status = 204;
  };

  const preflight = (ctx: Koa.Context): void => {
    cors(ctx);
    ctx.set('Access-Control-Allow-Methods', 'POST, OPTIONS');
    ctx.set('Access-Control-Allow-Headers', 'content-type');
    ctx.set('Access-Control-Max-Age', '86400');
    ctx.status = 204;
  };

  // For a load balancer's readiness probe: no token, nothing about the data. Not for liveness: a
  // restart does not empty a full disk.
  router.get('/health', (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    const failing = !deps.store.healthy();
    ctx.status = failing ? 503 : 200;
    ctx.body = failing ? { status: 'failing', error: 'the last write to the store failed; reports are answered 503 until one succeeds' } : { status: 'ok' };
  });
  router.options('/report', preflight);
  router.options('/sdk', preflight);
  router.post('/report', guard(REPORT_TYPES), read(REPORT_TYPES), async (ctx) => {
    const body = parseBody(String(ctx.request.body ?? ''), ctx.get('content-type'));
    await store(ctx, normalizeNative(body, meta(ctx)));
  });
  router.post('/sdk', guard(SDK_TYPES), read(SDK_TYPES), async (ctx) => {
    const body = parseBody(String(ctx.request.body ?? ''), ctx.get('content-type'));
    await store(ctx, normalizeSdk(body, meta(ctx)));
  });
}
