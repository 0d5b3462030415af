// A page as a person fixes it: the same inline script on /product/1?ref=home and /product/2 is one
// thing to fix, and so are the http and https copies of one page. Only the GROUP generalizes: the
// merge still compares exact documents and source files (merge.ts bucketKey).
import { memoize } from './hash.js';
import { urlParts } from './url.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** A hex hash (commit id, content hash): 8 or more hex digits, at least one a digit. */
const HEX = /^(?=[a-f]*\d)[0-9a-f]{8,}$/i;
/** A long random token (session, signed id, base64url): 20+ characters, letters and digits. */
const TOKEN = /^(?=.*\d)(?=.*[a-z])[\w-]{20,}$/i;
/** …but not a slug: lower-case words joined by hyphens (`iphone-15-pro-max-256gb-space-black`). */
const SLUG = /^[a-z0-9]+(?:-[a-z0-9]+)+$/;

const isHash = (s: string) => UUID.test(s) || HEX.test(s) || (TOKEN.test(s) && !SLUG.test(s));

/** A path segment that is an id (a number, UUID, hash or token) is `:id`; so is a hash inside a file name (`main.3f9a2b1c.js`). */
function segment(s: string): string {
  if (/^\d+$/.test(s) || isHash(s)) return ':id';
  return s.includes('.') ? s.split('.').map((p) => (isHash(p) ? ':id' : p)).join('.') : s;
}

function path(p: string): string {
  const out = p.split('/').map((s) => (s ? segment(s) : s)).join('/');
  // `/cart/` and `/cart` are one page to the person fixing it.
  return out.length > 1 && out.endsWith('/') ? out.slice(0, -1) : out || '/';
}

const AUTHORITY = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i;
const WEB = new Set(['http:', 'https:', 'ws:', 'wss:']);

/**
 * The template of a page or script URL: no query, no fragment, id segments as `:id`; for the web
 * schemes neither scheme nor port (`//shop.example/product/:id`: a scheme-relative URL, the page on
 * either scheme). `blob:` keeps its prefix; anything else only loses its query and fragment.
 */
export const sourceTemplate = memoize((url: string): string => {
  const bare = url.replace(/[?#][\s\S]*$/, '');
  if (/^blob:/i.test(bare)) return `blob:${sourceTemplate(bare.slice(5))}`;
  const u = urlParts(bare);
  const authority = AUTHORITY.exec(bare);
  if (!u || !authority || !WEB.has(u.protocol)) return bare;
  return `//${u.hostname}${path(bare.slice(authority[0].length))}`;
}, 4096);
