// Secrets in URLs: an OAuth `code` and `state` in a document URL, a signed `token` in a blocked
// image, `access_token` in a page's fragment. Their values are replaced before the batch is
// journaled, stored, streamed or alerted on; the URL keeps its shape (`token=[scrubbed]`). Every
// stream goes through the same scrubber, so a report and the SDK event of one violation still agree
// on the document, and still merge.
import type { NormalizedViolation, PageContext } from '@csp-lens/schema';
import type { IngestBatch } from './types.js';
import { CAP, str } from './fields.js';
import { memoize } from './hash.js';

/** Query (and fragment) parameters whose values are scrubbed by default; names match case-insensitively. */
export const DEFAULT_SCRUB_PARAMS: readonly string[] = [
  'token', 'access_token', 'id_token', 'refresh_token', 'auth_token',
  'code', 'state',
  'session', 'sessionid', 'session_id',
  'password', 'passwd',
  'key', 'api_key', 'apikey',
  'secret', 'client_secret',
  'sig', 'signature',
];

export const SCRUBBED = '[scrubbed]';

function paramName(raw: string): string {
  try {
    return decodeURIComponent(raw.replace(/\+/g, ' ')).toLowerCase();
  } catch {
    return raw.toLowerCase();
  }
}

/**
 * A function that scrubs the named parameters' values out of a URL's query and fragment, or
 * undefined when there is nothing to scrub (an empty list). `default` in the list stands for
 * DEFAULT_SCRUB_PARAMS. Bad names throw at start.
 */
export function createScrubber(names: readonly string[] = DEFAULT_SCRUB_PARAMS): ((url: string) => string) | undefined {
  if (!Array.isArray(names) || names.some((n) => typeof n !== 'string' || !n.trim() || /[&=#?\s]/.test(n.trim()))) {
    throw new Error(`csp-lens: scrubParams must be a list of parameter names (no & = # ? or spaces), got ${JSON.stringify(names)}`);
  }
  const set = new Set(names.flatMap((n) => (n.trim() === 'default' ? DEFAULT_SCRUB_PARAMS : [n.trim()])).map((n) => n.toLowerCase()));
  if (!set.size) return undefined;
  // A name can only match when it is at most three times the longest listed one (percent-escapes).
  const longest = 3 * Math.max(...[...set].map((n) => n.length));
  // Most URLs name none of the parameters: one scan says so (a %-escaped name takes the long way).
  const named = new RegExp(`[?#&](?:${[...set].map((n) => n.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|')})=`, 'i');
  // Split, not a regex: linear whatever the sender puts in a 2 KiB URL.
  const part = (s: string) =>
    s
      .split('&')
      .map((p) => {
        const eq = p.indexOf('=');
        return eq > 0 && eq <= longest && eq < p.length - 1 && set.has(paramName(p.slice(0, eq))) ? `${p.slice(0, eq + 1)}${SCRUBBED}` : p;
      })
      .join('&');
  // The URLs that may hold a listed parameter, each rewritten once (bounded memo). The rest, nearly
  // every URL, is told by the scan below, cheaper than a lookup keyed by a fresh string.
  const rewrite = memoize((url) => {
    const q = url.indexOf('?');
    const h = url.indexOf('#');
    // The query runs to the fragment; a fragment may hold parameters too (OAuth's implicit flow).
    const query = q !== -1 && (h === -1 || q < h) ? q : -1;
    const end = h === -1 ? url.length : h;
    let out = query === -1 ? url.slice(0, end) : url.slice(0, query + 1) + part(url.slice(query + 1, end));
    if (h !== -1) out += `#${part(url.slice(h + 1))}`;
    // Never longer than any URL we keep (a short secret becomes 10 characters).
    return out === url ? url : (str(out, CAP.url) ?? url);
  }, 4096);
  return (url) => ((url.indexOf('?') === -1 && url.indexOf('#') === -1) || (!named.test(url) && !url.includes('%')) ? url : rewrite(url));
}

/** The batch's URLs, every field that holds one, scrubbed in place (before filter, journal and store). */
export function scrubBatch(batch: IngestBatch, scrub: ((url: string) => string) | undefined): IngestBatch {
  if (!scrub) return batch;
  const pages = new Set<PageContext>();
  const s = (u: string | undefined) => (u === undefined ? undefined : scrub(u));
  for (const v of batch.violations) {
    v.documentURL = scrub(v.documentURL);
    setIf(v, 'blockedURL', s(v.blockedURL));
    setIf(v, 'sourceFile', s(v.sourceFile));
    setIf(v, 'referrer', s(v.referrer));
    if (v.element?.url !== undefined) v.element.url = scrub(v.element.url);
    // An SDK batch's events share one page context: scrubbed once.
    if (v.page && !pages.has(v.page)) {
      pages.add(v.page);
      v.page.url = scrub(v.page.url);
      if (v.page.referrer !== undefined) v.page.referrer = scrub(v.page.referrer);
    }
  }
  return batch;
}

// Only keys the violation already has: no new (undefined) keys on a fast object (report.ts toViolation).
function setIf(v: NormalizedViolation, key: 'blockedURL' | 'sourceFile' | 'referrer', value: string | undefined): void {
  if (value !== undefined && value !== v[key]) v[key] = value;
}
