import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type Koa from 'koa';
import type Router from '@koa/router';

/**
 * The dashboard's own policy. Every value it shows is attacker-controlled: the client builds DOM
 * with textContent only, and this policy is the second line — no inline script, style or handler
 * could run even if a bug let markup through.
 */
export const DASHBOARD_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; " +
  "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const FILES: Record<string, [file: string, type: string]> = {
  '/dashboard': ['index.html', 'text/html; charset=utf-8'],
  '/dashboard/app.js': ['app.js', 'application/javascript; charset=utf-8'],
  '/dashboard/app.css': ['app.css', 'text/css; charset=utf-8'],
};

// This file runs from src/dashboard/ under vitest and from dist/ once rollup bundled it into
// dist/index.js; the built client is in dist/dashboard/ either way.
const CANDIDATES = ['./dashboard/', '../../dist/dashboard/'];

function builtDir(): string | undefined {
  for (const rel of CANDIDATES) {
    const dir = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(`${dir}index.html`)) return dir;
  }
  return undefined;
}

/**
 * `GET {prefix}/dashboard` and its two assets. The page holds no data, so it needs no token; its
 * data calls carry the token (`Authorization: Bearer`) to the read API.
 */
export function mountDashboard(router: Router, options: { prefix: string; dir?: string }): void {
  const cache = new Map<string, { body: Buffer; etag: string }>();
  const load = (file: string) => {
    let hit = cache.get(file);
    if (!hit) {
      const dir = options.dir ?? builtDir();
      if (!dir || !existsSync(`${dir}${file}`)) return undefined;
      const body = readFileSync(`${dir}${file}`);
      hit = { body, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 16)}"` };
      cache.set(file, hit);
    }
    return hit;
  };

  const serve = (route: string): Koa.Middleware => async (ctx) => {
    // The page links its assets relatively (`dashboard/app.js`): a trailing slash would break them.
    if (ctx.path.endsWith('/')) {
      ctx.redirect(`${options.prefix}${route}${ctx.querystring ? `?${ctx.querystring}` : ''}`);
      return;
    }
    const [file, type] = FILES[route];
    const hit = load(file);
    ctx.set('X-Content-Type-Options', 'nosniff');
    ctx.set('Referrer-Policy', 'no-referrer');
    ctx.set('Cross-Origin-Resource-Policy', 'same-origin');
    if (!hit) {
      ctx.status = 503;
      ctx.body = { error: 'the dashboard is not built: run npm run build' };
      return;
    }
    if (file === 'index.html') {
      ctx.set('Content-Security-Policy', DASHBOARD_CSP);
      ctx.set('X-Frame-Options', 'DENY');
      ctx.set('Cross-Origin-Opener-Policy', 'same-origin');
    }
    // Asset names carry no hash: revalidate every time (cheap with the ETag).
    ctx.set('Cache-Control', 'no-cache');
    ctx.set('ETag', hit.etag);
    ctx.type = type;
    ctx.status = 200;
    if (ctx.fresh) {
      ctx.status = 304;
      return;
    }
    ctx.body = hit.body;
  };

  for (const route of Object.keys(FILES)) router.get(route, serve(route));
}
