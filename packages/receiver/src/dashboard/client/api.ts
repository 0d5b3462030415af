// The read API, with the bearer token. The token arrives once in the fragment of the URL the CLI
// prints (a fragment is never sent to a server or in a Referer), is kept for this tab only, and is
// removed from the address bar so it is not bookmarked, shared or left in history.

const KEY = 'csp-lens-token';

export class AuthError extends Error {}

export function takeToken(): string | null {
  const m = /(?:^#|&)token=([^&]*)/.exec(location.hash);
  if (m) {
    try {
      sessionStorage.setItem(KEY, decodeURIComponent(m[1]));
    } catch {
      // A malformed escape: ignore it; the login form asks instead.
    }
    history.replaceState(history.state, '', location.pathname + location.search);
  }
  return sessionStorage.getItem(KEY);
}

export const setToken = (token: string) => sessionStorage.setItem(KEY, token.trim());
export const clearToken = () => sessionStorage.removeItem(KEY);

// `{prefix}/dashboard` → `{prefix}/api`.
const base = () => `${location.pathname.replace(/\/dashboard\/?$/, '')}/api`;

export type Params = Record<string, string | number | undefined>;

export const get = <T>(path: string, params: Params = {}): Promise<T> => call<T>('GET', path, params);

/** DELETE (an erasure): answered with what it removed. */
export const del = <T>(path: string): Promise<T> => call<T>('DELETE', path);

async function call<T>(method: 'GET' | 'DELETE', path: string, params: Params = {}): Promise<T> {
  const token = sessionStorage.getItem(KEY);
  if (!token) throw new AuthError('no token');
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') q.set(k, String(v));
  const res = await fetch(`${base()}${path}${q.size ? `?${q}` : ''}`, {
    method,
    headers: { authorization: `Bearer ${token}`, accept: 'application/json' },
    cache: 'no-store',
    credentials: 'omit',
  });
  if (res.status === 401) throw new AuthError('the token was refused');
  if (!res.ok) {
    const body = (await res.json().catch(() => ({}))) as { error?: unknown };
    throw new Error(`${res.status}: ${typeof body.error === 'string' ? body.error : res.statusText}`);
  }
  return (await res.json()) as T;
}
