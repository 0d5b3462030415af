import type { SdkPage } from '@csp-lens/schema';

export interface PageConfig {
  release?: string;
  env?: string;
  tags?: Record<string, string>;
  context?: Record<string, unknown>;
}

/** Random enough to tell page views and sessions apart; not a secret. */
const rid = () => Date.now().toString(36) + Math.random().toString(36).slice(2, 10);

function sessionId(): string | undefined {
  try {
    // Storage's named properties are getItem/setItem (absent: undefined), in fewer bytes.
    return (sessionStorage['csp-lens.s'] ||= 's_' + rid());
  } catch {
    // Storage disabled (sandboxed frame, privacy settings): page views stay, sessions go
    // (undefined).
  }
}

/** The page view: fixed ids at start; URL, viewport and app context read when a batch leaves. */
export function createContext(config: PageConfig) {
  const id = 'pv_' + rid();
  const session = sessionId();
  let context = config.context;
  return {
    _page(policies: string[]): SdkPage {
      return {
        id,
        session,
        url: location.href,
        referrer: document.referrer,
        release: config.release,
        env: config.env,
        tags: config.tags,
        context,
        viewport: [innerWidth, innerHeight],
        lang: navigator.language,
        policies: policies.length ? policies : undefined,
      };
    },
    /** Shallow-merges into the app context sent with every later batch. */
    _set(ctx: Record<string, unknown>) {
      context = { ...context, ...ctx };
    },
  };
}
