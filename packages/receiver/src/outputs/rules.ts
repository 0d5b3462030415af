import type { NormalizedViolation } from '@csp-lens/schema';
import type { StoredViolation } from '../core/types.js';

// The reporting guide's thresholds as alert rules, over what appends stored: the same group from
// more than N distinct clients within a window ("likely attack campaign"), more than N violations
// within an hour (store-wide or per group), and the first inline-script violation on a page that
// never had one. Memory is bounded whatever arrives: groups, clients per group and pages tracked are
// capped, the least recently seen forgotten first. Each hit is also kept for the dashboard's badges
// (`signals`), for a day. What is tracked is this process's: instances sharing PostgreSQL each count
// what they received.

export interface RuleOptions {
  /** Campaign: one group from more than `clients` distinct clients within `windowMs`. Default 5 in 1 h. */
  campaign?: { clients?: number; windowMs?: number };
  /** Volume: more than `max` violations in the last hour, all groups together or each group. Default 10, store. */
  volume?: { max?: number; scope?: 'store' | 'group' };
}

export type RuleReason = 'campaign' | 'volume' | 'new-inline';

export interface RuleHit {
  reason: RuleReason;
  /** Which of the stored violations set it off. */
  stored: StoredViolation;
  campaign?: { clients: number; max: number; windowMs: number };
  volume?: { count: number; max: number; scope: 'store' | 'group' };
}

/** The dashboard's badges: what fired for a group (or store-wide) in the last day, and when. */
export interface GroupSignals {
  campaign?: { clients: number; at: number };
  volume?: { count: number; at: number };
  newInline?: { document: string; at: number };
}
export interface Signals {
  groups: Record<string, GroupSignals>;
  store: { volume?: { count: number; at: number } };
}

const HOUR = 3_600_000;
const SLOT = 5 * 60_000;
const SIGNAL_MS = 24 * HOUR;
const MAX_GROUPS = 10_000;
const MAX_PAGES = 50_000;
const MAX_SIGNALS = 5_000;

/** `map` as a least-recently-used set: `key` moves to the end; past `max`, the front goes. */
function touch<K, V>(map: Map<K, V>, key: K, value: V, max: number): V {
  map.delete(key);
  map.set(key, value);
  if (map.size > max) map.delete(map.keys().next().value as K);
  return value;
}

/** An inline script blocked: the guide's "any inline script block". */
const inlineScript = (v: Pick<NormalizedViolation, 'category' | 'effectiveDirective'>) => v.category === 'inline' && v.effectiveDirective.startsWith('script-src');

/** A page: its URL without the query (the same page with another query string is no new page). */
const pageOf = (url: string) => url.replace(/[?#].*$/s, '');

export function createRules(options: RuleOptions = {}) {
  const clientsMax = options.campaign?.clients ?? 5;
  const windowMs = options.campaign?.windowMs ?? HOUR;
  const volumeMax = options.volume?.max ?? 10;
  const scope = options.volume?.scope ?? 'store';
  for (const [name, n] of [['campaign clients', clientsMax], ['campaign window', windowMs], ['volume max', volumeMax]] as const) {
    if (!Number.isSafeInteger(n) || n < 1) throw new Error(`csp-lens: the ${name} must be an integer ≥ 1, got ${JSON.stringify(n)}`);
  }
  if (clientsMax > 1000) throw new Error('csp-lens: the campaign clients must be at most 1000');
  /** Per group: when each of its most recent distinct clients was last seen (at most clientsMax + 1), and the last hit. */
  const campaigns = new Map<string, { clients: Map<string, number>; fired: number }>();
  /** Per scope (`*` store-wide, or a group): violations per 5-minute slot, and the last hit. */
  const volumes = new Map<string, { slots: Map<number, number>; fired: number }>();
  /** Pages known to have had an inline-script violation. */
  const pages = new Map<string, true>();
  let ready = true;
  const signals = new Map<string, GroupSignals>();
  let storeVolume: { count: number; at: number } | undefined;

  function signal(gid: string, s: GroupSignals): void {
    touch(signals, gid, { ...signals.get(gid), ...s }, MAX_SIGNALS);
  }

  function campaign(gid: string, client: string | undefined, now: number): RuleHit['campaign'] {
    if (!client) return undefined;
    const c = campaigns.get(gid) ?? { clients: new Map<string, number>(), fired: -Infinity };
    touch(campaigns, gid, c, MAX_GROUPS);
    // The most recently seen clients last; more than clientsMax + 1 need not be remembered.
    touch(c.clients, client, now, clientsMax + 1);
    for (const [k, at] of c.clients) {
      if (now - at <= windowMs) break;
      c.clients.delete(k);
    }
    if (c.clients.size <= clientsMax || now - c.fired < windowMs) return undefined;
    c.fired = now;
    return { clients: c.clients.size, max: clientsMax, windowMs };
  }

  function volume(key: string, n: number, now: number): RuleHit['volume'] {
    const slot = Math.floor(now / SLOT);
    const v = volumes.get(key) ?? { slots: new Map<number, number>(), fired: -Infinity };
    touch(volumes, key, v, MAX_GROUPS);
    v.slots.set(slot, (v.slots.get(slot) ?? 0) + n);
    let count = 0;
    for (const [s, c] of v.slots) {
      if (s <= slot - HOUR / SLOT) v.slots.delete(s);
      else count += c;
    }
    if (count <= volumeMax || now - v.fired < HOUR) return undefined;
    v.fired = now;
    return { count, max: volumeMax, scope };
  }

  return {
    /** What the stored violations set off, in order. Counting only: it runs inside ingest. */
    observe(stored: StoredViolation[], now: number): RuleHit[] {
      const hits: RuleHit[] = [];
      for (const s of stored) {
        const v = s.violation;
        const gid = s.group.id;
        const c = campaign(gid, v.clientIp, now);
        if (c) {
          hits.push({ reason: 'campaign', stored: s, campaign: c });
          signal(gid, { campaign: { clients: c.clients, at: now } });
        }
        const vol = volume(scope === 'store' ? '*' : gid, v.count, now);
        if (vol) {
          hits.push({ reason: 'volume', stored: s, volume: vol });
          if (scope === 'group') signal(gid, { volume: { count: vol.count, at: now } });
          else storeVolume = { count: vol.count, at: now };
        }
        if (inlineScript(v)) {
          const page = pageOf(v.documentURL);
          const known = pages.has(page);
          touch(pages, page, true, MAX_PAGES);
          if (!known && ready) {
            hits.push({ reason: 'new-inline', stored: s });
            signal(gid, { newInline: { document: v.documentURL, at: now } });
          }
        }
      }
      return hits;
    },
    /**
     * Until `seed` is called (with the pages the store already holds an inline-script violation
     * on), no page counts as new: a restart must not announce every page again.
     */
    waitForSeed(): void {
      ready = false;
    },
    seed(documents: Iterable<string>): void {
      for (const d of documents) touch(pages, pageOf(d), true, MAX_PAGES);
      ready = true;
    },
    /** How much is tracked now: bounded whatever arrives. */
    tracked() {
      let clients = 0;
      for (const c of campaigns.values()) clients += c.clients.size;
      return { groups: campaigns.size, clients, volumes: volumes.size, pages: pages.size, signals: signals.size };
    },
    /** What fired in the last day, for the dashboard. */
    signals(now: number): Signals {
      const groups: Record<string, GroupSignals> = {};
      for (const [gid, s] of signals) {
        const recent: GroupSignals = {};
        if (s.campaign && now - s.campaign.at < SIGNAL_MS) recent.campaign = s.campaign;
        if (s.volume && now - s.volume.at < SIGNAL_MS) recent.volume = s.volume;
        if (s.newInline && now - s.newInline.at < SIGNAL_MS) recent.newInline = s.newInline;
        if (Object.keys(recent).length) groups[gid] = recent;
      }
      return { groups, store: storeVolume && now - storeVolume.at < SIGNAL_MS ? { volume: storeVolume } : {} };
    },
  };
}

export type Rules = ReturnType<typeof createRules>;

/** Inline-script violations are what `new-inline` looks at: the store's pages that already had one. */
export const isInlineScript = inlineScript;
