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

export async function get<T>(path: string, params: Params = {}): Promise<T> {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') q.set(k, String(v));
  return call<T>(`${path}${q.size ? `?${q}` : ''}`);
}

/** POSTs JSON (a triage change): the same token, the same errors. */
export const post = <T>(path: string, body: unknown): Promise<T> => call<T>(path, { method: 'POST', body: JSON.stringify(body), type: 'application/json' });

/** DELETE (an erasure): answered with what it removed. */
export const del = <T>(path: string): Promise<T> => call<T>(path, { method: 'DELETE' });

async function call<T>(path: string, send?: { method: string; body?: string; type?: string }): Promise<T> {
  const token = sessionStorage.getItem(KEY);
  if (!token) throw new AuthError('no token');
  const res = await fetch(`${base()}${path}`, {
    method: send?.method ?? 'GET',
    body: send?.body,
    headers: { authorization: `Bearer ${token}`, accept: 'application/json', ...(send?.type ? { 'content-type': send.type } : {}) },
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
