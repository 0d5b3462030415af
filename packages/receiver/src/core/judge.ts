// When allowing what a report asks for is wrong: the evidence across records that turns an `allow`
// into `investigate`. Injected code shows up differently from the page's own: on one client (a
// victim, or the attacker testing), or on a page that had been seen for a while without it.
import type { Verdict } from '@csp-lens/schema';
import type { Risk } from './suggest.js';

/** A page must have been seen this long before new inline script on it counts as "new". */
export const SETTLE_MS = 10 * 60_000;

export interface Evidence {
  /** Distinct clients (IP as stored, else SDK session) among the records looked at. */
  clients: number;
  /**
   * The inline script appeared on a page already seen (with other violations) at least SETTLE_MS
   * before it, under the same release: `since` is when that page was first seen.
   */
  knownPage?: { document: string; since: number };
  /** It appeared together with a release not seen on that page before: a deploy explains it. */
  newRelease?: string;
}

export interface Judgement {
  verdict: Verdict;
  reasons: string[];
}

/** The verdict for a suggestion of `risk`, given the evidence; `allow` stays only when nothing speaks against it. */
export function judge(verdict: Verdict, risk: Risk | undefined, e: Evidence): Judgement {
  const reasons: string[] = [];
  if (verdict !== 'allow' || !risk) return { verdict, reasons };
  if (risk === 'exfiltration' && e.clients <= 1) {
    reasons.push(
      'Seen from one client only, to another site: a dependency of the page shows up for every visitor, an exfiltration from an injected script often for one. Check what sends it before allowing it.',
    );
    return { verdict: 'investigate', reasons };
  }
  if (risk === 'inline-script' && e.knownPage) {
    if (e.newRelease) {
      reasons.push(`New inline script on ${e.knownPage.document}, appeared with release ${e.newRelease}: the deploy explains it.`);
      return { verdict, reasons };
    }
    reasons.push(
      `Inline script that ${e.knownPage.document} never had before: the page was seen from ${new Date(e.knownPage.since).toISOString()} without it, under the same release. If no deploy added it, it may be injected: find where it comes from before allowing it.`,
    );
    return { verdict: 'investigate', reasons };
  }
  return { verdict, reasons };
}

type Seen = { clientIp?: string; userAgent?: string; page?: { session?: string; id: string; release?: string } };

/** Who a record came from: its client as stored (truncated or hashed IP), else its SDK session or page view. */
export const clientOf = (r: Seen): string | undefined => r.clientIp ?? r.page?.session ?? r.page?.id;

/** Distinct clients among `records`. */
export function clientsOf(records: Seen[]): number {
  return new Set(records.map(clientOf).filter((c) => c !== undefined)).size;
}

/**
 * Whether inline script is new on a page seen before: `earlier` is a record of the same document
 * from at least SETTLE_MS before the script first appeared (none: nothing known of the page).
 * A release among the script's records that the earlier record did not have explains it.
 */
export function pageEvidence(records: Seen[], earlier: (Seen & { documentURL: string; occurredAt: number }) | undefined): Pick<Evidence, 'knownPage' | 'newRelease'> {
  if (!earlier) return {};
  const before = earlier.page?.release;
  const newRelease = before === undefined ? undefined : records.map((r) => r.page?.release).find((r) => r !== undefined && r !== before);
  return { knownPage: { document: earlier.documentURL, since: earlier.occurredAt }, ...(newRelease ? { newRelease } : {}) };
}
