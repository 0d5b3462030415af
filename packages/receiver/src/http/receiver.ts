import { randomBytes } from 'node:crypto';
import Router from '@koa/router';
import type Koa from 'koa';
import type { NoiseFilter, Store, StoredViolation } from '../core/types.js';
import { withHealth } from '../store/health.js';
import { jsonErrors, mountIngest } from './ingest.js';
import { mountReadApi, mountSdkScript } from './read-api.js';
import { mountDashboard } from '../dashboard/server.js';
import { createRateLimiter } from './ratelimit.js';
import { createNoiseFilter, withLocalhost, type NoiseRule } from '../core/filter.js';
import { createScrubber, DEFAULT_SCRUB_PARAMS } from '../core/scrub.js';
import { anonymizeIp, clientKey, type IpMode } from './ip.js';
import { createBodyBudget } from './budget.js';
import { memoize } from '../core/hash.js';
import { parseSize } from './size.js';

export interface ReceiverOptions {
  store: Store;
  /** Where the routes live; default `/csp`. */
  prefix?: string;
  /** Bearer token for the read API and dashboard data; generated when absent (see `receiver.token`). */
  token?: string;
  /**
   * Origins allowed to post reports; default `*` (ingest only, never the read API). With a list, a
   * POST whose Origin is not on it is refused (403); one without an Origin header is accepted.
   */
  corsOrigins?: '*' | string[];
  /** Requests per second per client; 0 turns it off. Default 100 (bursts of 400). */
  rateLimit?: number;
  /** IPv6 clients are counted per prefix of this length (rate limit, body memory); default 64. */
  ipv6Prefix?: number;
  /** Largest accepted body: bytes or a string like `1mb`. Default 1 MiB. */
  bodyLimit?: number | string;
  /**
   * Request bodies held in memory at once, all clients together: bytes or like `64mb`. Default 64 MiB
   * or 8 × bodyLimit, the larger. One client may hold an eighth of it (at least `bodyLimit`); past
   * that 429, past the total 503.
   */
  maxBodyMemory?: number | string;
  /** What is kept of the client IP: /24 or /48 (`truncate`, default), a salted `hash`, `full`, `none`. */
  ipMode?: IpMode;
  ipSalt?: string;
  /** Noise rules to add, or default rule names to remove (core/noise-rules.ts lists them). */
  filters?: { add?: NoiseRule[]; remove?: string[] } | NoiseFilter;
  /** Drop violations whose document, blocked URL or source file is on localhost (counted as `localhost`); default: kept. */
  dropLocalhost?: boolean;
  /**
   * Query and fragment parameters whose values are replaced by `[scrubbed]` in every URL of a report
   * (document, blocked, source, referrer, the SDK's page, referrer and element URLs) before it is
   * stored, streamed or alerted on; case-insensitive. `default` in the list stands for the default
   * names (DEFAULT_SCRUB_PARAMS: token, access_token, code, state, session, password, key, secret,
   * sig and their common variants); `[]` scrubs nothing.
   */
  scrubParams?: string[];
  clock?: () => number;
  /** The built SDK IIFE served at `{prefix}/sdk.js`. Default: `sdk.js` of @csp-lens/browser (a dependency). */
  sdkScriptPath?: string | URL;
  /**
   * Called after a batch is durably stored (alerts, streams) with what the store stored: each
   * violation, the record it is part of and its group; errors are caught.
   */
  onStored?: (stored: StoredViolation[]) => void;
  /** Extra routes under the prefix (the dashboard mounts itself here). */
  extend?: (router: Router, ctx: { token: string; prefix: string; store: Store }) => void;
}

export interface Receiver {
  /** All routes under the prefix, as one Koa middleware. */
  middleware(): Koa.Middleware;
  router: Router;
  store: Store;
  token: string;
  prefix: string;
}

function fail(message: string): never {
  throw new Error(`csp-lens: ${message}`);
}

export function createReceiver(options: ReceiverOptions): Receiver {
  if (!options || typeof options !== 'object') fail('createReceiver needs an options object');
  if (!options.store || typeof options.store.append !== 'function') fail('createReceiver needs a store (see openFileStore)');
  const clock = options.clock ?? Date.now;
  // /health answers from the store's last writes.
  const store = withHealth(options.store, clock);
  const prefix = (options.prefix ?? '/csp').replace(/\/+$/, '');
  if (prefix && !/^\/[\w\-./~]*$/.test(prefix)) fail(`prefix must start with "/" and be a plain path, got ${JSON.stringify(options.prefix)}`);
  const token = options.token ?? randomBytes(24).toString('base64url');
  if (typeof token !== 'string' || token.length < 16) fail('token must be a string of at least 16 characters');
  const rate = options.rateLimit ?? 100;
  if (!Number.isFinite(rate) || rate < 0) fail('rateLimit must be a number ≥ 0 (0 turns it off)');
  const origins = options.corsOrigins ?? '*';
  if (origins !== '*' && !(Array.isArray(origins) && origins.every((o) => typeof o === 'string'))) {
    fail('corsOrigins must be "*" or a list of origins');
  }
  const bodyLimit = parseSize(options.bodyLimit ?? '1mb');
  if (!bodyLimit) fail(`bodyLimit must be a size like 512kb, 1mb or a byte count > 0, got ${JSON.stringify(options.bodyLimit)}`);
  const bodyMemory = options.maxBodyMemory === undefined ? Math.max(64 * 1024 ** 2, 8 * bodyLimit) : parseSize(options.maxBodyMemory);
  if (bodyMemory === undefined || bodyMemory < bodyLimit) fail(`maxBodyMemory must be a size of at least bodyLimit (${bodyLimit} bytes), got ${JSON.stringify(options.maxBodyMemory)}`);
  const v6Prefix = options.ipv6Prefix ?? 64;
  if (!Number.isInteger(v6Prefix) || v6Prefix < 1 || v6Prefix > 128) fail(`ipv6Prefix must be an integer from 1 to 128, got ${JSON.stringify(options.ipv6Prefix)}`);
  const ipMode = options.ipMode ?? 'truncate';
  if (!['truncate', 'hash', 'full', 'none'].includes(ipMode)) fail('ipMode must be truncate, hash, full or none');
  const filter =
    typeof options.filters === 'function'
      ? options.dropLocalhost ? withLocalhost(options.filters) : options.filters
      : createNoiseFilter({ ...options.filters, dropLocalhost: options.dropLocalhost });
  const scrub = createScrubber(options.scrubParams ?? DEFAULT_SCRUB_PARAMS);
  const ipSalt = options.ipSalt ?? randomBytes(16).toString('hex');

  const router = new Router(prefix ? { prefix } : {});
  router.use(jsonErrors);
  mountIngest(router, {
    store,
    filter,
    scrub,
    clock,
    bodyLimit,
    ipMode,
    ipSalt,
    allowOrigin: (origin) => (origins === '*' ? '*' : origin && origins.includes(origin) ? origin : undefined),
    // A client sends many reports: its address is parsed once, not per request.
    clientOf: memoize((ip) => clientKey(ip, v6Prefix), 4096),
    rateLimit: createRateLimiter(rate),
    bodies: createBodyBudget(bodyMemory, Math.max(bodyLimit, Math.floor(bodyMemory / 8))),
    onStored: options.onStored && guardCallback(options.onStored),
  });
  mountSdkScript(router, options.sdkScriptPath);
  // An erasure by client finds an IP address as --ip-mode stored it, too.
  mountReadApi(router, store, token, { clock, clientForms: (c) => [c, anonymizeIp(c, ipMode, ipSalt) ?? ''] });
  mountDashboard(router, { prefix });
  options.extend?.(router, { token, prefix, store });

  const routes = router.routes() as unknown as Koa.Middleware;
  const allowed = router.allowedMethods() as unknown as Koa.Middleware;
  return {
    middleware: () => async (ctx, next) => routes(ctx, () => allowed(ctx, next)),
    router,
    store,
    token,
    prefix,
  };
}

function guardCallback(fn: (stored: StoredViolation[]) => void): (stored: StoredViolation[]) => void {
  return (v) => {
    try {
      fn(v);
    } catch (e) {
      console.error('csp-lens: onStored callback failed:', e);
    }
  };
}
