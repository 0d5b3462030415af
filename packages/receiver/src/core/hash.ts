import * as crypto from 'node:crypto';

// crypto.hash (Node ≥ 20.12) hashes a string in one call, without a Hash object: several times
// cheaper for the short values ingest hashes per report. Older Node: createHash.
const oneShot = (crypto as { hash?: (algorithm: string, data: string, encoding: 'hex' | 'base64url') => string }).hash;

/** sha256 of a string (as UTF-8), hex or base64url. */
export function sha256(text: string, encoding: 'hex' | 'base64url'): string {
  return oneShot ? oneShot('sha256', text, encoding) : crypto.createHash('sha256').update(text).digest(encoding);
}

/**
 * `fn` with its results remembered for up to `max` distinct strings (then forgotten all at once):
 * for work on values that repeat across reports (hashes of documents, user agents and policies,
 * client IPs, parsed URLs). Undefined results are remembered too.
 */
export function memoize<T>(fn: (s: string) => T, max: number): (s: string) => T {
  const memo = new Map<string, T>();
  return (s) => {
    // One lookup for a hit (the common case); `has` only to tell a remembered undefined from none.
    const hit = memo.get(s);
    if (hit !== undefined || memo.has(s)) return hit as T;
    const out = fn(s);
    if (memo.size >= max) memo.clear();
    memo.set(s, out);
    return out;
  };
}
