// What one page view of the demo sent, violation by violation: each SDK event beside the native
// reports of the same violation (paired here tolerantly, by what cannot differ), and how every
// field of those reports differs from the event's. Input: one visit of scripts/capture/demo.mjs.

export const FIELDS = ['blockedURL', 'sourceFile', 'lineNumber', 'columnNumber', 'sample', 'disposition', 'statusCode', 'referrer'];
const KEBAB = {
  documentURL: 'document-uri',
  blockedURL: 'blocked-uri',
  effectiveDirective: 'effective-directive',
  sourceFile: 'source-file',
  lineNumber: 'line-number',
  columnNumber: 'column-number',
  sample: 'script-sample',
  disposition: 'disposition',
  statusCode: 'status-code',
  referrer: 'referrer',
};

/** A request header's value (rawHeaders alternate names and values). */
export function header(rawHeaders, name) {
  for (let i = 0; i < rawHeaders.length; i += 2) if (rawHeaders[i].toLowerCase() === name) return rawHeaders[i + 1];
  return undefined;
}

const parse = (s) => {
  try {
    return JSON.parse(s);
  } catch {
    return undefined;
  }
};

/** { field: value } with only the keys that were sent (a missing key stays missing). */
function pick(o, names) {
  const out = {};
  for (const [f, k] of Object.entries(names)) if (o && Object.hasOwn(o, k)) out[f] = o[k];
  return out;
}

/** The SDK events of a visit: one item per event of every batch. */
export function sdkItems(visit) {
  const out = [];
  for (const r of visit.requests) {
    if (r.method !== 'POST' || !r.url.startsWith('/csp/sdk')) continue;
    const batch = parse(r.body);
    for (const e of batch?.events ?? []) {
      const raw = pick(e, { documentURL: 'documentURI', blockedURL: 'blockedURI', effectiveDirective: 'effectiveDirective', ...Object.fromEntries(FIELDS.filter((f) => f !== 'blockedURL').map((f) => [f, f])) });
      out.push({ stream: 'sdk', at: r.at, t: e.t - visit.t0, count: e.count ?? 1, raw, element: e.element?.tag ?? null });
    }
  }
  return out;
}

/** The native reports of a visit: report-uri (`csp-report`) and Reporting API items, in arrival order. */
export function nativeItems(visit) {
  const out = [];
  for (const r of visit.requests) {
    if (r.method !== 'POST' || !r.url.startsWith('/csp/report')) continue;
    const body = parse(r.body);
    const type = (header(r.rawHeaders, 'content-type') ?? '').split(';')[0];
    const items = Array.isArray(body) ? body : [body];
    for (const item of items) {
      if (item?.['csp-report']) {
        const raw = pick(item['csp-report'], KEBAB);
        if (raw.effectiveDirective === undefined) raw.effectiveDirective = String(item['csp-report']['violated-directive'] ?? '').split(' ')[0];
        out.push({ stream: 'reportUri', at: r.at, raw, type, perPost: items.length, shape: Object.keys(item).join(',') });
      } else if (item?.body) {
        const raw = pick(item.body, Object.fromEntries(Object.keys(KEBAB).map((f) => [f, f])));
        out.push({ stream: 'reportTo', at: r.at, age: item.age, raw, type, perPost: items.length, shape: Object.keys(item).join(',') });
      }
    }
  }
  return out;
}

const originOf = (u) => {
  try {
    const o = new URL(u).origin;
    return o === 'null' ? undefined : o;
  } catch {
    return undefined;
  }
};
const noFragment = (u) => (typeof u === 'string' ? u.split('#')[0] : u);
const noQuery = (u) => (typeof u === 'string' ? u.split(/[?#]/)[0] : u);
const isOrigin = (u) => typeof u === 'string' && originOf(u) !== undefined && u.replace(/\/$/, '') === originOf(u);
const pos = (v) => (typeof v === 'number' && v > 0 ? v : 0);
const text = (v) => (typeof v === 'string' ? v.replace(/…$/, '') : '');

/** Could this native report describe this SDK event? Only what no engine changes must agree. */
export function compatible(s, n) {
  if (s.raw.effectiveDirective !== n.raw.effectiveDirective) return false;
  const a = noFragment(s.raw.blockedURL);
  const b = noFragment(n.raw.blockedURL);
  if (a !== b && !(isOrigin(b) && originOf(a) === b.replace(/\/$/, '')) && !(isOrigin(a) && originOf(b) === a.replace(/\/$/, ''))) return false;
  const [x, y] = [text(s.raw.sample), text(n.raw.sample)];
  if (x && y && !x.startsWith(y) && !y.startsWith(x)) return false;
  if (pos(s.raw.lineNumber) && pos(n.raw.lineNumber) && s.raw.lineNumber !== n.raw.lineNumber) return false;
  const [f, g] = [noQuery(s.raw.sourceFile), noQuery(n.raw.sourceFile)];
  if (f && g && f !== g) return false;
  return true;
}

const agreement = (s, n) => FIELDS.filter((f) => JSON.stringify(s.raw[f]) === JSON.stringify(n.raw[f])).length;

/**
 * Pairs native reports with SDK events: first one to one (most fields equal, then nearest in time),
 * then each report left over joins its best compatible event (several reports for one violation).
 */
export function pair(sdk, native) {
  const rows = sdk.map((s) => ({ sdk: s, native: { reportUri: [], reportTo: [] } }));
  const cand = [];
  for (const [i, s] of sdk.entries()) {
    for (const [j, n] of native.entries()) {
      if (compatible(s, n)) cand.push({ i, j, score: agreement(s, n), dt: Math.abs(n.at - s.t) });
    }
  }
  cand.sort((a, b) => b.score - a.score || a.dt - b.dt || a.i - b.i || a.j - b.j);
  const taken = new Set();
  const full = new Set();
  for (const c of cand) {
    const key = `${c.i} ${native[c.j].stream}`;
    if (taken.has(c.j) || full.has(key)) continue;
    rows[c.i].native[native[c.j].stream].push(native[c.j]);
    taken.add(c.j);
    full.add(key);
  }
  for (const c of cand) {
    if (taken.has(c.j)) continue;
    rows[c.i].native[native[c.j].stream].push(native[c.j]);
    taken.add(c.j);
  }
  const unpaired = native.filter((_, j) => !taken.has(j));
  return { rows, unpaired };
}

/** The demo's violation kinds, by what every engine keeps. */
export function kindOf(raw) {
  const d = raw.effectiveDirective ?? '';
  const b = raw.blockedURL ?? '';
  const s = typeof raw.sample === 'string' ? raw.sample : '';
  if (d === 'frame-ancestors') return 'frame-ancestors';
  if (d === 'img-src') return b.includes('/images/') ? 'img' : b.includes('/img2/') ? 'img-crosssite' : b.includes('/dyn/') ? 'img-dynamic' : /\/redir/.test(b) ? 'img-redirect' : 'img-src';
  if (d === 'frame-src') return b.includes('/frame.html') ? 'iframe' : b.includes('/submit') ? 'form target frame' : 'frame-src (origin only)';
  if (d === 'form-action') return 'form-action';
  if (d === 'connect-src') return 'fetch';
  if (d === 'worker-src') return 'worker';
  if (d === 'style-src-attr') return 'style-attr';
  if (d === 'script-src-attr') return 'inline-event-handler';
  if (d === 'style-src-elem') return b.includes('/static/s.css') ? 'external-stylesheet' : 'inline-style-element';
  if (d === 'script-src-elem') return b.includes('/static/x.js') ? 'external-script' : 'inline-script';
  if (d === 'script-src' && b === 'eval') {
    if (s.startsWith('window.__evalRan')) return 'eval';
    if (s.startsWith('1 + ')) return 'eval-loop';
    if (s.startsWith('2 + 2')) return 'eval-repeat';
    if (s.includes('anonymous')) return 'new-function';
    return 'eval (no sample)';
  }
  return `${d} ${b}`.trim();
}

/** A value as the tables show it: placeholders for the page's own URLs, (missing) for an absent key. */
export function show(v, ctx) {
  if (v === undefined) return '(missing)';
  if (v === null) return 'null';
  if (v === '') return '""';
  if (typeof v !== 'string') return String(v);
  if (v === ctx.url) return 'DOC';
  if (v === noQuery(ctx.url)) return 'DOC without query';
  if (v.endsWith('/demo/triggers.js')) return 'triggers.js';
  if (isOrigin(v)) return 'origin only';
  return v.length > 32 ? `${v.slice(0, 29)}…` : v;
}

/** The differences of one native report from its SDK event: [{ field, sdk, native }]. */
export function diffs(s, n, ctx) {
  const out = [];
  for (const f of FIELDS) {
    const a = s.raw[f];
    const b = n.raw[f];
    if (JSON.stringify(a) === JSON.stringify(b)) continue;
    if (f === 'blockedURL' && noFragment(a) === b) continue; // every engine drops the fragment
    if (f === 'referrer') continue; // not a key field; listed apart
    let native = show(b, ctx);
    if (f === 'blockedURL' && isOrigin(b)) native = 'origin only';
    if (f === 'sample' && typeof a === 'string' && typeof b === 'string' && a.startsWith(b.replace(/…$/, ''))) native = `cut to ${b.length}`;
    out.push({ field: f, sdk: show(a, ctx), native });
  }
  return out;
}

/**
 * The merge's key fields as the receiver normalizes them (packages/receiver/src/report.ts): empty,
 * null and missing strings are absent, positions below 1 are absent, a missing disposition is
 * "enforce", fragments are dropped. What still differs here keeps an event and its report apart.
 */
export function normalizedKey(raw) {
  const s = (v) => (typeof v === 'string' && v !== '' ? v : undefined);
  const p = (v) => (typeof v === 'number' && v >= 1 ? v : undefined);
  return {
    sourceFile: s(noFragment(raw.sourceFile)),
    lineNumber: p(raw.lineNumber),
    columnNumber: p(raw.columnNumber),
    sample: s(raw.sample),
    disposition: raw.disposition === 'report' ? 'report' : 'enforce',
  };
}

/** Key fields that differ after normalization (blockedURL is compared by compatible()). */
export function blockers(s, n, ctx) {
  const a = normalizedKey(s.raw);
  const b = normalizedKey(n.raw);
  return Object.keys(a)
    .filter((k) => a[k] !== b[k])
    .map((k) => ({ field: k, sdk: show(a[k], ctx), native: show(b[k], ctx) }));
}

/** One visit, analysed: per SDK event its native reports, what differs, and what the receiver stored. */
export function analyzeVisit(visit) {
  const ctx = { url: visit.url };
  const sdk = sdkItems(visit);
  const native = nativeItems(visit);
  const { rows, unpaired } = pair(sdk, native);
  const triggerAt = (visit.triggered?.at ?? Infinity) - visit.t0;
  const out = rows.map(({ sdk: s, native: n }) => ({
    kind: kindOf(s.raw),
    phase: s.t >= triggerAt - 5 ? 'trigger' : 'load',
    count: s.count,
    element: s.element,
    sdk: Object.fromEntries(FIELDS.filter((f) => f !== 'referrer').map((f) => [f, show(s.raw[f], ctx)])),
    streams: Object.fromEntries(
      Object.entries(n)
        .filter(([, list]) => list.length)
        .map(([stream, list]) => [
          stream,
          {
            reports: list.length,
            diffs: diffs(s, list[0], ctx),
            blockers: blockers(s, list[0], ctx),
            delayMs: list.map((r) => Math.round(r.at - s.t)),
            age: list.map((r) => r.age).filter((a) => a !== undefined),
            referrerDiffers: list.some((r) => r.raw.referrer !== s.raw.referrer),
          },
        ]),
    ),
  }));
  const leftovers = unpaired.map((n) => ({ kind: kindOf(n.raw), stream: n.stream, fields: Object.fromEntries(FIELDS.map((f) => [f, show(n.raw[f], ctx)])), at: n.at }));
  const r = visit.records;
  const nat = (x) => x.sources.reportUri + x.sources.reportTo;
  const fa = r.filter((x) => x.effectiveDirective === 'frame-ancestors');
  const stored = {
    records: r.length,
    merged: r.filter((x) => x.sources.sdk > 0 && nat(x) > 0).length,
    sdkOnly: r.filter((x) => x.sources.sdk > 0 && nat(x) === 0).length,
    nativeOnly: r.filter((x) => x.sources.sdk === 0 && x.effectiveDirective !== 'frame-ancestors').length,
    frameAncestors: fa.length,
    frameAncestorsDocument: fa.map((x) => show(x.documentURL, ctx)),
  };
  // One record per distinct violation: the SDK's events (deduplicated across batches) + frame-ancestors.
  const distinct = new Set(sdk.map((s) => JSON.stringify([s.raw.effectiveDirective, noFragment(s.raw.blockedURL), s.raw.sourceFile, s.raw.lineNumber, s.raw.columnNumber, s.raw.sample]))).size;
  stored.distinctViolations = distinct + (fa.length ? 1 : 0);
  stored.extra = r.length - stored.distinctViolations;
  const posts = {};
  for (const q of visit.requests) {
    const type = (header(q.rawHeaders, 'content-type') ?? '').split(';')[0];
    const k = `${q.method} ${q.url.split('?')[0]}${type ? ` ${type}` : ''}`;
    posts[k] = (posts[k] ?? 0) + 1;
  }
  const perPost = {};
  for (const n of native) (perPost[n.stream] ??= new Set()).add(n.perPost);
  return {
    page: visit.page,
    url: visit.url,
    errors: visit.errors,
    posts,
    reportsPerPost: Object.fromEntries(Object.entries(perPost).map(([k, v]) => [k, [...v].sort((a, b) => a - b)])),
    shapes: [...new Set(native.map((n) => `${n.stream}: ${n.type} {${n.shape}}`))],
    sdkEvents: sdk.length,
    nativeReports: { reportUri: native.filter((n) => n.stream === 'reportUri').length, reportTo: native.filter((n) => n.stream === 'reportTo').length },
    stored,
    rows: out,
    unpaired: leftovers,
  };
}
