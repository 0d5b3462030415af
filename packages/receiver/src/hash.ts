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
 * for hashes of values that repeat across reports (documents, user agents, policies).
 */
export function memoize(fn: (s: string) => string, max: number): (s: string) => string {
  const memo = new Map<string, string>();
  return (s) => {
    let out = memo.get(s);
    if (out === undefined) {
      out = fn(s);
      if (memo.size >= max) memo.clear();
      memo.set(s, out);
    }
    return out;
  };
}
