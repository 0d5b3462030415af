import type { SdkBatch } from '@csp-lens/schema';
import { copy, type RawViolation } from './capture.js';
import { createContext, type PageConfig } from './context.js';
import { findElement } from './element.js';
import { createQueue, type QueueOptions } from './queue.js';
import { send } from './transport.js';

export type { SdkBatch, SdkElement, SdkEvent, SdkPage, NoElementReason } from '@csp-lens/schema';
export type { BeforeSend, QueueOptions } from './queue.js';

export interface Options extends PageConfig, QueueOptions {
  /** Where batches are POSTed, e.g. `https://receiver.example/csp/sdk`. */
  endpoint: string;
  /** Fraction of page views that report (0–1, default 1). Decided once per page view. */
  sampleRate?: number;
  /** Also report untrusted (script-dispatched) events; off by default: anyone can forge them. */
  untrusted?: boolean;
}

export interface CspLens {
  /** Flushes what is pending, then stops listening. */
  stop(): void;
  /** Sends what is pending now. */
  flush(): void;
  /** Shallow-merges app context into later batches. */
  setContext(ctx: Record<string, unknown>): void;
}

/** The loader snippet's buffer (an array) before init; the running instance after. */
type Global = { __cspLens?: RawViolation[] | CspLens };

const noop = () => {};

/** Starts the SDK once per page: a second call (or another bundle) gets the running instance. */
export function init(options: Options): CspLens {
  let lens: CspLens = { stop: noop, flush: noop, setContext: noop };
  try {
    // Inside the try: on a server (SSR) `window` itself throws.
    const g = window as unknown as Global;
    const prev = g.__cspLens;
    if (prev && 'stop' in prev) return prev;
    if (!options.endpoint) throw 0;
    const url = new URL(options.endpoint, location.href);
    const endpoint = url.href;
    const ctx = createContext(options);
    const queue = createQueue(
      options,
      // JSON leaves out `dropped: undefined`: only a batch that dropped some says so.
      (events, policies, dropped) =>
        JSON.stringify({ v: 1, sentAt: Date.now(), page: ctx._page(policies), events, dropped: dropped || undefined } satisfies SdkBatch),
      (body) => send(endpoint, body, leaving),
    );
    // Set while the page is going away (hidden or pagehide): the batch needs a keepalive fallback.
    let leaving = false;
    const handle = (e: RawViolation) => {
      try {
        if (!e.isTrusted && !options.untrusted) return;
        const v = copy(e);
        const b = v.blockedURI || '';
        // Our own beacon blocked by connect-src would report itself forever: stop instead (nothing
        // pending is sent, no listener is left to see the next one).
        if (b.startsWith(endpoint) || (v.effectiveDirective == 'connect-src' && (b + '/').startsWith(url.origin + '/'))) {
          queue._stop();
          listen('removeEventListener');
          console.warn(`csp-lens: CSP blocks ${endpoint}; stopped`);
          return;
        }
        queue._add(v, () => {
          try {
            return findElement(e.target, b, v.effectiveDirective);
          } catch {
            // A DOM quirk must cost the element, not the violation.
            return {};
          }
        });
      } catch {
        // Never throw into the page's event dispatch.
      }
    };
    const flush = queue._flush;
    // Flush while the page can still send: hidden is the last reliable moment on mobile, pagehide
    // covers navigations that skip visibilitychange (Chromium fires pagehide while the page is
    // still "visible"). https://www.w3.org/TR/page-visibility-2/
    const flushOut = () => {
      leaving = true;
      flush();
      leaving = false;
    };
    const onHide = () => document.visibilityState == 'hidden' && flushOut();
    const listen = (m: 'addEventListener' | 'removeEventListener') => {
      // Capture phase on document: no page handler can stop the event before we see it.
      document[m]('securitypolicyviolation', handle as unknown as EventListener, true);
      document[m]('visibilitychange', onHide);
      window[m]('pagehide', flushOut);
    };
    lens = {
      stop() {
        flush();
        queue._stop();
        listen('removeEventListener');
        if (g.__cspLens == lens) g.__cspLens = undefined;
      },
      flush,
      setContext: ctx._set,
    };
    // Sampling per page view keeps a sampled view complete: every violation of it is counted, and
    // the receiver can tell SDK-covered views from native-only ones.
    // `!(… >= …)`: an absent or NaN rate (no data-sample-rate) compares false, so it reports.
    if (!(Math.random() >= options.sampleRate!)) {
      listen('addEventListener');
      // What the loader snippet buffered (it stops once __cspLens is this instance, below).
      if (Array.isArray(prev)) prev.forEach(handle);
    }
    g.__cspLens = lens;
  } catch {
    // No endpoint, no DOM: a monitoring script must never break the page it watches.
    console.warn('csp-lens: not started (endpoint?)');
  }
  return lens;
}
