import type Router from '@koa/router';
import type { Signals } from '../outputs/rules.js';
import { requireToken } from './read-api.js';

/**
 * `GET {prefix}/api/signals`: what the alert rules fired in the last day (likely attack campaign,
 * volume, first inline script on a page), per group, for the dashboard's badges. Token-protected.
 */
export function mountSignals(router: Router, signals: () => Signals, token: string): void {
  router.get('/api/signals', requireToken(token), (ctx) => {
    ctx.body = signals();
  });
}
