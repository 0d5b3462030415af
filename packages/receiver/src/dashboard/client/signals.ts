import type { GroupSignals, Signals } from '../../outputs/rules.js';
import { AuthError, get } from './api.js';
import { h } from './dom.js';
import { ago, dateTime, num } from './format.js';

export type { GroupSignals, Signals } from '../../outputs/rules.js';

/**
 * What the alert rules fired. Badges are extra: none when the receiver serves no signals (an
 * embedder's own app answers 404) or they fail to load; only a refused token stops the page.
 */
export const loadSignals = (): Promise<Signals> =>
  get<Signals>('/signals').catch((e: Error) => {
    if (e instanceof AuthError) throw e;
    return { groups: {}, store: {} };
  });

/** A group's badges: likely attack campaign, volume, first inline script on a page. */
export function signalBadges(s: GroupSignals | undefined): HTMLElement | null {
  if (!s) return null;
  const badge = (kind: string, label: string, title: string) => h('span', { class: `signal ${kind}`, title, 'data-signal': kind }, label);
  return h(
    'span',
    { class: 'signals' },
    s.campaign ? badge('campaign', 'Likely attack campaign', `From ${num(s.campaign.clients)} distinct clients within the window, ${ago(s.campaign.at)} (${dateTime(s.campaign.at)})`) : null,
    s.volume ? badge('volume', 'High volume', `${num(s.volume.count)} violations in an hour, ${ago(s.volume.at)}`) : null,
    s.newInline ? badge('new-inline', 'New inline script', `First inline script blocked on ${s.newInline.document}, ${ago(s.newInline.at)}`) : null,
  );
}
