import type { DocumentFilter } from '../../core/match.js';

// core/match.ts in SQL: the document filter and the search box over csp_lens_records. Both take the
// placeholder of their parameter (`$3`) and return a condition; the parameter is the filter's
// `prefix`, and `searchParam(q)`.

const UPPER = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';
const STRIPPED = "regexp_replace(document_url, '[?#].*$', '')";
const ORIGIN = `substring(${STRIPPED} from '^[a-zA-Z][a-zA-Z0-9+.-]*://[^/]*')`;
// documentKey: scheme and host in ASCII lower case, no query, no fragment.
const KEY = `coalesce(translate(${ORIGIN}, '${UPPER}', '${UPPER.toLowerCase()}') || substr(${STRIPPED}, length(${ORIGIN}) + 1), ${STRIPPED})`;

export function documentSql(f: DocumentFilter, p: string): string {
  if (f.kind === 'url') return `starts_with(${KEY}, ${p})`;
  if (f.kind === 'path') return `(${ORIGIN} IS NOT NULL AND starts_with(substr(${STRIPPED}, length(${ORIGIN}) + 1), ${p}))`;
  return `(${ORIGIN} IS NOT NULL AND starts_with(substr(${KEY}, strpos(${KEY}, '://') + 3), ${p}))`;
}

/** ILIKE with the query's own `%`, `_` and `\` taken literally. */
export const searchSql = (p: string): string =>
  `(record->>'blockedURL' ILIKE ${p} OR document_url ILIKE ${p} OR record->>'sourceFile' ILIKE ${p})`;

export const searchParam = (q: string): string => `%${q.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
