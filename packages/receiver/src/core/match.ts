import type { ViolationRecord } from '@csp-lens/schema';

// The document filter and the search box, for the file store (PostgreSQL says the same in SQL:
// store/postgres/match.ts). Both stores must agree, so case folding of a URL's scheme and host is
// ASCII only, as it is for every host a browser sends (IDN hosts arrive in punycode).

const ORIGIN = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/[^/]*/;
const SCHEME = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\//;
const asciiLower = (s: string) => s.replace(/[A-Z]+/g, (c) => c.toLowerCase());

/** A document URL as the filter compares it: no query, no fragment, scheme and host in lower case. */
export function documentKey(url: string): string {
  const cut = url.search(/[?#]/);
  const s = cut === -1 ? url : url.slice(0, cut);
  const origin = ORIGIN.exec(s)?.[0];
  return origin === undefined ? s : asciiLower(origin) + s.slice(origin.length);
}

/**
 * How a document groups in a group's breakdown: its URL without query and fragment. One function,
 * so that a path template (`/product/:id`) can take its place.
 */
export const documentGroup = (url: string): string => documentKey(url);

export type DocumentFilter = { kind: 'path' | 'url' | 'bare'; prefix: string };

/**
 * The document filter: a prefix of the URL (`https://shop.example/checkout`), of its path
 * (`/checkout`), or of the URL without its scheme (`shop.example/checkout`). Its own query and
 * fragment are ignored, and so are the documents'.
 */
export function documentFilter(value: string): DocumentFilter | undefined {
  const f = documentKey(value.trim());
  if (!f) return undefined;
  if (f.startsWith('/')) return { kind: 'path', prefix: f };
  if (SCHEME.test(f)) return { kind: 'url', prefix: f };
  const slash = f.indexOf('/');
  return { kind: 'bare', prefix: slash === -1 ? asciiLower(f) : asciiLower(f.slice(0, slash)) + f.slice(slash) };
}

export function documentMatches(f: DocumentFilter, url: string): boolean {
  const key = documentKey(url);
  if (f.kind === 'url') return key.startsWith(f.prefix);
  const origin = ORIGIN.exec(key)?.[0];
  if (origin === undefined) return false;
  if (f.kind === 'path') return key.slice(origin.length).startsWith(f.prefix);
  return key.slice(key.indexOf('://') + 3).startsWith(f.prefix);
}

/** The search box's longest query: a substring of a URL, not a document. */
export const SEARCH_MAX = 200;

/**
 * Records whose blocked URL, document URL or source file contains `q`, ASCII letters in either
 * case (what PostgreSQL's ILIKE does under the C locale, and URLs are ASCII but for their paths).
 */
export function searchMatcher(q: string): (r: Pick<ViolationRecord, 'blockedURL' | 'documentURL' | 'sourceFile'>) => boolean {
  const needle = asciiLower(q);
  const has = (s: string | undefined) => s !== undefined && asciiLower(s).includes(needle);
  return (r) => has(r.blockedURL) || has(r.documentURL) || has(r.sourceFile);
}
