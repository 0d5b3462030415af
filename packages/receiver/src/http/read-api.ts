import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type Koa from 'koa';
import type Router from '@koa/router';
import { COVERAGES } from '../core/coverage.js';
import type { EraseFilter, GroupQuery, RecordFilter, Store, ViolationQuery } from '../core/types.js';
import { ClientError } from '../core/errors.js';
import { groupAdvice, mountPolicyApi } from './policy-api.js';
import { koaBody } from 'koa-body';
import { SEARCH_MAX } from '../core/match.js';
import { STATUS_FILTERS, parseTriageChange, withEffectiveTriage } from '../core/triage.js';
import { BUILT_IN_RULES } from '../core/severity.js';

/** Reads never work without the token: `Authorization: Bearer <token>`, compared in constant time. */
export function requireToken(token: string): Koa.Middleware {
  const expected = createHash('sha256').update(token).digest();
  return async (ctx, next) => {
    const m = /^Bearer\s+(\S+)$/i.exec(ctx.get('authorization'));
    const given = m ? createHash('sha256').update(m[1]).digest() : undefined;
    if (!given || !timingSafeEqual(given, expected)) {
      ctx.set('WWW-Authenticate', 'Bearer realm="csp-lens"');
      ctx.status = 401;
      ctx.body = { error: m ? 'invalid token' : 'missing Authorization: Bearer <token>' };
      return;
    }
    ctx.set('Cache-Control', 'no-store');
    await next();
  };
}

const oneOf = <T extends string>(name: string, value: string | undefined, allowed: readonly T[]): T | undefined => {
  if (value === undefined || value === '') return undefined;
  if ((allowed as readonly string[]).includes(value)) return value as T;
  throw new ClientError(400, `${name} must be one of ${allowed.join(', ')}`);
};

function time(name: string, value: string | undefined): number | undefined {
  if (value === undefined || value === '') return undefined;
  const n = /^\d+$/.test(value) ? Number(value) : Date.parse(value);
  if (!Number.isFinite(n)) throw new ClientError(400, `${name} must be a time in ms since the epoch or an ISO date`);
  return n;
}

function limit(value: string | undefined): number | undefined {
  if (value === undefined || value === '') return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 500) throw new ClientError(400, 'limit must be an integer from 1 to 500');
  return n;
}

function str(ctx: Koa.Context, name: string): string | undefined {
  const v = ctx.query[name];
  if (Array.isArray(v)) throw new ClientError(400, `${name} may be given once`);
  return v === undefined ? undefined : String(v).slice(0, 4096);
}

const SEVERITIES = ['critical', 'high', 'medium', 'low'] as const;
const DISPOSITIONS = ['enforce', 'report', 'unknown'] as const;

/** The record filters `/api/violations` and `/api/stats` share. */
const parseRecordFilter = (ctx: Koa.Context): RecordFilter => ({
  directive: str(ctx, 'directive'),
  source: oneOf('source', str(ctx, 'source'), ['sdk', 'reportUri', 'reportTo'] as const),
  coverage: oneOf('coverage', str(ctx, 'coverage'), COVERAGES),
  groupId: str(ctx, 'group'),
  document: str(ctx, 'document'),
  q: search(str(ctx, 'q')),
  disposition: oneOf('disposition', str(ctx, 'disposition'), DISPOSITIONS),
  severity: oneOf('severity', str(ctx, 'severity'), SEVERITIES),
  since: time('since', str(ctx, 'since')),
  until: time('until', str(ctx, 'until')),
});

function search(value: string | undefined): string | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  if (value.length > SEARCH_MAX) throw new ClientError(400, `q must be at most ${SEARCH_MAX} characters`);
  return value.trim();
}

// A triage change is a few short fields; anything bigger is not one.
const STATE_BODY_LIMIT = 8 * 1024;

export interface ReadApiOptions {
  /**
   * The forms a client given to an erasure may be stored under: as given (what the API shows), and
   * an IP address as `--ip-mode` keeps it (truncated or hashed with the receiver's salt).
   */
  clientForms?: (client: string) => string[];
  /** The server time of triage changes, and what an "ignore until" is read against. */
  clock?: () => number;
}

const ERASE_PARAMS = ['document', 'client', 'before'];

/** `DELETE /api/violations`' filter: only what it knows (an unknown one ignored would erase more than asked). */
function parseEraseFilter(ctx: Koa.Context, forms: (client: string) => string[]): EraseFilter {
  const unknown = Object.keys(ctx.query).find((k) => !ERASE_PARAMS.includes(k));
  if (unknown !== undefined) throw new ClientError(400, `DELETE /api/violations takes ${ERASE_PARAMS.join(', ')}; got ${JSON.stringify(unknown.slice(0, 64))}`);
  const document = str(ctx, 'document')?.replace(/#.*$/s, '');
  const client = str(ctx, 'client');
  const before = time('before', str(ctx, 'before'));
  const filter: EraseFilter = {
    ...(document ? { document } : {}),
    ...(client ? { clients: [...new Set(forms(client).filter(Boolean))] } : {}),
    ...(before !== undefined ? { before } : {}),
  };
  if (!Object.keys(filter).length) throw new ClientError(400, `DELETE /api/violations needs at least one of ${ERASE_PARAMS.join(', ')}`);
  return filter;
}

/** Token-protected erasure routes: what is removed is answered as `{ deleted, archived }`, and logged. */
function mountErase(router: Router, store: Store, auth: Koa.Middleware, forms: (client: string) => string[]): void {
  const erase = async (ctx: Koa.Context, filter: EraseFilter) => {
    let result;
    try {
      result = await store.erase(filter, { by: ctx.ip });
    } catch (e) {
      ctx.app.emit('error', e, ctx);
      ctx.status = 503;
      ctx.body = { error: 'storage unavailable; retry later' };
      return;
    }
    console.error(`csp-lens: erased ${JSON.stringify(filter)} at the request of ${ctx.ip}: ${result.deleted} live, ${result.archived} archived record(s)`);
    ctx.body = result;
  };
  router.delete('/api/violations', auth, (ctx) => erase(ctx, parseEraseFilter(ctx, forms)));
  router.delete('/api/groups/:id', auth, (ctx) => erase(ctx, { groupId: String(ctx.params.id).slice(0, 4096) }));
}

export function mountReadApi(router: Router, store: Store, token: string, options: ReadApiOptions = {}): void {
  const auth = requireToken(token);
  const clock = options.clock ?? Date.now;
  mountErase(router, store, auth, options.clientForms ?? ((c) => [c]));
  router.get('/api/violations', auth, async (ctx) => {
    const q: ViolationQuery = {
      ...parseRecordFilter(ctx),
      limit: limit(str(ctx, 'limit')),
      cursor: cursor(str(ctx, 'cursor'), /^r[0-9a-z]{1,12}$/),
    };
    ctx.body = await store.violations(q);
  });
  router.get('/api/groups', auth, async (ctx) => {
    const q: GroupQuery = {
      sort: oneOf('sort', str(ctx, 'sort'), ['lastSeen', 'count', 'reach', 'severity'] as const),
      directive: str(ctx, 'directive'),
      severity: oneOf('severity', str(ctx, 'severity'), SEVERITIES),
      disposition: oneOf('disposition', str(ctx, 'disposition'), DISPOSITIONS),
      coverage: oneOf('coverage', str(ctx, 'coverage'), COVERAGES),
      document: str(ctx, 'document'),
      q: search(str(ctx, 'q')),
      since: time('since', str(ctx, 'since')),
      until: time('until', str(ctx, 'until')),
      status: oneOf('status', str(ctx, 'status'), STATUS_FILTERS),
      newSince: time('newSince', str(ctx, 'newSince')),
      release: str(ctx, 'release') || undefined,
      now: clock(),
      limit: limit(str(ctx, 'limit')),
      cursor: cursor(str(ctx, 'cursor'), /^\d{1,9}$/),
    };
    ctx.body = await store.groups(q);
  });
  const noGroup = (ctx: Koa.Context) => {
    ctx.status = 404;
    ctx.body = { error: 'no such group' };
  };
  router.get('/api/groups/:id', auth, async (ctx) => {
    const found = await store.group(ctx.params.id);
    if (!found) return noGroup(ctx);
    const group = withEffectiveTriage(found.group, clock());
    // Advice is an extra: a failure there must not cost the group view its data.
    const advice = await groupAdvice(store, found).catch((e) => void console.error('csp-lens: advice failed:', e));
    ctx.body = advice ? { ...found, group, advice } : { ...found, group };
  });
  router.get('/api/groups/:id/breakdown', auth, async (ctx) => {
    const found = await store.breakdown(ctx.params.id);
    if (!found) return noGroup(ctx);
    ctx.body = found;
  });
  // The one write of the read API: the token guards it as it guards every read (a bearer token,
  // never a cookie: no other site can make a browser send it).
  router.post(
    '/api/groups/:id/state',
    auth,
    (ctx, next) => {
      if (!ctx.is('application/json')) throw new ClientError(415, 'send the state as Content-Type: application/json');
      return next();
    },
    koaBody({ json: false, urlencoded: false, multipart: false, text: true, textTypes: ['application/json'], textLimit: STATE_BODY_LIMIT, encoding: 'utf-8' }),
    async (ctx) => {
      let body: unknown;
      try {
        body = JSON.parse(String(ctx.request.body ?? ''));
      } catch {
        throw new ClientError(400, 'the body is not JSON');
      }
      const change = parseTriageChange(body, clock());
      // As for a report: a store that cannot write now (a full disk, PostgreSQL down) is a 503.
      const group = await store.setGroupState(ctx.params.id, change).catch((e: Error) => {
        ctx.app.emit('error', e, ctx);
        throw new ClientError(503, 'storage unavailable; retry later');
      });
      if (!group) return noGroup(ctx);
      ctx.body = { group: withEffectiveTriage(group, clock()) };
    },
  );
  router.get('/api/severity', auth, (ctx) => {
    ctx.body = {
      rules: BUILT_IN_RULES.map(({ severity, when, why }) => ({ severity, when, why })),
      overrides: { ...(store.severityRules ?? {}) },
    };
  });
  router.get('/api/policies/:hash', auth, async (ctx) => {
    const policy = await store.policy(ctx.params.hash);
    ctx.status = policy === undefined ? 404 : 200;
    ctx.body = policy === undefined ? { error: 'no such policy' } : { hash: ctx.params.hash, policy };
  });
  router.get('/api/stats', auth, async (ctx) => {
    ctx.body = await store.stats(parseRecordFilter(ctx));
  });
  mountPolicyApi(router, store, auth);
}

function cursor(value: string | undefined, shape: RegExp): string | undefined {
  if (value === undefined || value === '') return undefined;
  if (!shape.test(value)) throw new ClientError(400, 'cursor is not one this API returned');
  return value;
}

// The SDK ships as `sdk.js` of @csp-lens/browser, a dependency of this package: resolved the way node
// resolves it from this file, it is the workspace link in this repository and, once installed, the
// receiver's own copy (hoisted beside it, or nested under it when the app holds another version).
const resolveHere = createRequire(import.meta.url).resolve;

function installedSdk(): string | undefined {
  try {
    return resolveHere('@csp-lens/browser/sdk.js');
  } catch {
    return undefined; // not built yet (resolution checks that the file exists)
  }
}

/**
 * Serves the SDK's IIFE, from `path` or else from @csp-lens/browser. `/sdk.js` revalidates daily (so a
 * new release reaches pages); `/sdk.js?v=<version>` is immutable for a year. Found on the first
 * request that can read it, so a receiver started before `npm run build` serves it once built.
 */
export function mountSdkScript(router: Router, path?: string | URL): void {
  let cached: { body: Buffer; etag: string; version: string } | undefined;
  router.get('/sdk.js', async (ctx) => {
    if (!cached) {
      const file = path ?? installedSdk();
      let body: Buffer | undefined;
      try {
        if (file) body = readFileSync(file);
      } catch {
        // unreadable: answered below like a missing file
      }
      if (!body) {
        ctx.status = 503;
        ctx.body = { error: `the SDK is not built: run npm run build${path ? '' : ' (or install @csp-lens/browser)'}` };
        return;
      }
      const version = createHash('sha256').update(body).digest('hex').slice(0, 12);
      cached = { body, etag: `"${version}"`, version };
    }
    const pinned = ctx.query.v === cached.version;
    ctx.set('Cache-Control', pinned ? 'public, max-age=31536000, immutable' : 'public, max-age=86400');
    ctx.set('ETag', cached.etag);
    ctx.set('X-CSP-Lens-SDK-Version', cached.version);
    ctx.set('Access-Control-Allow-Origin', '*');
    ctx.set('Cross-Origin-Resource-Policy', 'cross-origin');
    ctx.set('X-Content-Type-Options', 'nosniff');
    ctx.type = 'application/javascript; charset=utf-8';
    ctx.status = 200;
    if (ctx.fresh) {
      ctx.status = 304;
      return;
    }
    ctx.body = cached.body;
  });
}
