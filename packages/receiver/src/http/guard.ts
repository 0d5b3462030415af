import type Koa from 'koa';
import { ClientError } from '../core/errors.js';
import type { IngestDeps } from './ingest.js';

type GuardDeps = Pick<IngestDeps, 'bodyLimit' | 'allowOrigin' | 'clientOf' | 'rateLimit' | 'bodies'>;

/**
 * What is checked before a report body is read: CORS, the client's rate, its origin, the type, and
 * room for the body in memory. A refusal never costs memory: the body is read and dropped.
 */
export function createGuard(deps: GuardDeps) {
  const cors = (ctx: Koa.Context): void => {
    const origin = deps.allowOrigin(ctx.get('origin') || undefined);
    if (!origin) return;
    ctx.set('Access-Control-Allow-Origin', origin);
    if (origin !== '*') ctx.vary('Origin');
  };

  // Refusals read (and drop) the body first: answering mid-upload makes the socket close under a
  // client that is still sending, which then sees a reset instead of our answer.
  const refuse = async (ctx: Koa.Context, status: ClientError['status'], message: string): Promise<never> => {
    await drain(ctx.req, deps.bodyLimit);
    throw new ClientError(status, message);
  };

  const guard = (types: string[]) => async (ctx: Koa.Context, next: Koa.Next) => {
    cors(ctx);
    const client = deps.clientOf(ctx.ip);
    const wait = deps.rateLimit(client);
    if (wait) {
      ctx.set('Retry-After', String(wait));
      throw new ClientError(429, 'rate limit exceeded for this client');
    }
    // --cors-origins is enforced, not only advertised: a browser never reads our answer to a
    // cross-origin POST anyway, so the header alone kept nothing out. No Origin is accepted:
    // report-uri from Chromium and WebKit is often sent without one.
    const origin = ctx.get('origin');
    if (origin && !deps.allowOrigin(origin)) await refuse(ctx, 403, `origin ${JSON.stringify(origin.slice(0, 200))} is not allowed to post reports here`);
    if (!ctx.request.length && !ctx.get('transfer-encoding')) throw new ClientError(400, 'empty body');
    if (!ctx.is(types)) {
      await refuse(ctx, 415, `unsupported content type ${JSON.stringify(ctx.get('content-type') || '(none)')}; expected one of ${types.join(', ')}`);
    }
    // What the body may grow to in memory: a compressed one up to the limit once inflated.
    const encoded = !!ctx.get('content-encoding') && ctx.get('content-encoding') !== 'identity';
    const bytes = encoded ? deps.bodyLimit : Math.min(ctx.request.length ?? deps.bodyLimit, deps.bodyLimit);
    const over = deps.bodies.take(client, bytes);
    if (over) {
      ctx.set('Retry-After', '1');
      await refuse(ctx, over === 'client' ? 429 : 503, `too many report bodies in flight${over === 'client' ? ' from this client' : ''}; retry later`);
    }
    try {
      await next();
    } finally {
      deps.bodies.give(client, bytes);
    }
  };

  return { cors, guard };
}

/** Consumes a request body up to `max` bytes; past that, or on error, stops reading. */
function drain(req: NodeJS.ReadableStream & { destroyed?: boolean }, max: number): Promise<void> {
  return new Promise((resolve) => {
    let seen = 0;
    const done = () => {
      req.removeListener('data', onData);
      resolve();
    };
    const onData = (chunk: Buffer) => {
      seen += chunk.length;
      if (seen > max) {
        req.pause();
        done();
      }
    };
    req.on('data', onData);
    req.once('end', done);
    req.once('error', done);
    req.once('close', done);
  });
}
