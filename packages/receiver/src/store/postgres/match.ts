import type { DocumentFilter } from '../../core/match.js';

// core/match.ts in SQL: the document filter and the search box over csp_lens_records, each a
// condition over the parameters it binds. The document filter reads `doc_key`, the record's
// documentKey stored by migration 8 (schema.ts).

// The key's origin (its scheme and host are lower case already).
const KEY_ORIGIN = "substring(doc_key from '^[a-z][a-z0-9+.-]*://[^/]*')";

/** LIKE's own `%`, `_` and `\` taken literally (backslash is LIKE's default escape). */
const literal = (s: string) => s.replace(/[\\%_]/g, (c) => `\\${c}`);

/** `p` binds a parameter and returns its placeholder. */
export function documentSql(f: DocumentFilter, p: (value: string) => string): string {
  // A whole URL's prefix: a range of the doc_key index (a LIKE with a fixed start, planned with its value).
  if (f.kind === 'url') return `doc_key LIKE ${p(`${literal(f.prefix)}%`)}`;
  if (f.kind === 'path') return `(${KEY_ORIGIN} IS NOT NULL AND starts_with(substr(doc_key, length(${KEY_ORIGIN}) + 1), ${p(f.prefix)}))`;
  return `(${KEY_ORIGIN} IS NOT NULL AND starts_with(substr(doc_key, strpos(doc_key, '://') + 3), ${p(f.prefix)}))`;
}

/** ILIKE with the query's own `%`, `_` and `\` taken literally. */
export const searchSql = (p: string): string =>
  `(record->>'blockedURL' ILIKE ${p} OR document_url ILIKE ${p} OR record->>'sourceFile' ILIKE ${p})`;

export const searchParam = (q: string): string => `%${literal(q)}%`;
