import type { SdkEvent } from '@csp-lens/schema';
import type { Violation } from './capture.js';

export type BeforeSend = (event: SdkEvent) => SdkEvent | null | undefined | false | void;

export interface QueueOptions {
  /** Distinct violations per page view (default 100); the overflow is only counted (`dropped`). */
  maxEvents?: number;
  /** UTF-8 bytes per batch (default and maximum 16384). */
  maxBytes?: number;
  /** ms from the first pending violation to the flush (default 5000). */
  delay?: number;
  /** Edit (scrub URLs) or drop (return null/false) an event; called once per distinct violation. */
  beforeSend?: BeforeSend;
}

/** Serializes one batch. */
export type Build = (events: SdkEvent[], policies: string[], dropped: number) => string;

interface Entry {
  _e: SdkEvent;
  _p: string;
  /** Occurrences since the last batch; 0 = not pending. */
  _n: number;
  _s: number;
}

// The DESIGN §4 merge key (the event's documentURI has no fragment: CSP3 strips it), plus the
// fields that are constant within a page view for a given policy, plus the policy: the same
// violation of two policies (header and <meta>) is two violations, as it is in native reports.
const keyOf = (v: Violation) => JSON.stringify({ ...v, t: 0, sinceLoad: 0 });

const bytesOf = (s: string) => new Blob([s]).size;

export function createQueue(o: QueueOptions, build: Build, send: (body: string) => void) {
  const max = o.maxEvents || 100;
  // Beacons, keepalive fetches and the browser's own reports share 64 KiB in flight (DESIGN §2).
  const maxBytes = Math.min(o.maxBytes || 16384, 16384);
  const delay = o.delay ?? 5000;
  // key → entry, or 0 for a violation dropped by beforeSend or past the cap (repeats are ignored).
  const seen = new Map<string, Entry | 0>();
  let pending: Entry[] = [];
  let bytes = 0;
  let dropped = 0;
  let distinct = 0;
  let timer: ReturnType<typeof setTimeout> | 0 = 0;
  let stopped = false;

  const schedule = (ms: number) => {
    if (ms < delay) clearTimeout(timer);
    else if (timer) return;
    timer = setTimeout(flush, ms);
  };

  /** `element` is called once per distinct violation, so repeats cost a Map lookup. */
  function add(v: Violation, element: () => Partial<SdkEvent>): void {
    if (stopped) return;
    const key = keyOf(v);
    let en = seen.get(key);
    if (en === 0) return;
    if (!en) {
      if (distinct >= max) {
        dropped++;
        // Remembering overflow keys keeps `dropped` a count of distinct violations, up to a bound.
        if (seen.size < 4 * max) seen.set(key, 0);
        return schedule(delay);
      }
      const { originalPolicy, ...rest } = v;
      let e: SdkEvent | null | undefined | false | void = { ...rest, count: 0, ...element() };
      try {
        if (o.beforeSend) e = o.beforeSend(e);
      } catch {
        // A scrubber that throws must not let the unscrubbed event through.
        e = null;
      }
      if (!e) return void seen.set(key, 0);
      seen.set(key, (en = { _e: e, _p: originalPolicy, _n: 0, _s: JSON.stringify(e).length }));
      distinct++;
    } else if (!en._n) {
      // Already sent once in this page view: this batch reports the occurrences since then.
      en._e.t = v.t;
      en._e.sinceLoad = v.sinceLoad;
    }
    if (en._n++) return;
    // A policy counts once per batch (a few distinct ones per page: the scan is short).
    if (en._p && !pending.some((p) => p._p == en!._p)) bytes += en._p.length;
    pending.push(en);
    bytes += en._s;
    // A full batch goes in the next task rather than inside the page's event dispatch.
    schedule(bytes >= maxBytes ? 0 : delay);
  }

  function flush(): void {
    clearTimeout(timer);
    timer = 0;
    if (stopped || (!pending.length && !dropped)) return;
    const list = pending;
    pending = [];
    bytes = 0;
    try {
      pack(list, dropped);
    } catch {
      // A batch that cannot be built (a circular setContext) is lost, never thrown into the page
      // (the timer calls this too); counting starts over all the same.
    }
    dropped = 0;
    for (const en of list) en._n = 0;
  }

  // Policies: each batch carries only the policies its own events use, once each, and events
  // point into that list. A batch must stand alone (an earlier beacon may have been lost), so a
  // "once per page view" table that later batches index into could not be resolved reliably.
  function pack(list: Entry[], d: number): void {
    const pols: string[] = [];
    const events = list.map((en) => {
      const e = { ...en._e, count: en._n };
      if (en._p) {
        const i = pols.indexOf(en._p);
        e.policy = i < 0 ? pols.push(en._p) - 1 : i;
      }
      return e;
    });
    const body = build(events, pols, d);
    // Over budget: halve until each half fits (a single oversized event still goes alone).
    if (list.length > 1 && bytesOf(body) > maxBytes) {
      const half = list.length >> 1;
      pack(list.slice(0, half), d);
      pack(list.slice(half), 0);
    } else send(body);
  }

  return {
    _add: add,
    _flush: flush,
    /** Drops what is pending and ignores everything from now on: a timer still set finds nothing to do. */
    _stop() {
      stopped = true;
    },
  };
}
