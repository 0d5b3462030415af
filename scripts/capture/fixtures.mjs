// Writes one engine's loads as fixture files, in the naming scheme of chromium-156 (README.md).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { typesOf, TYPES } from './classify.mjs';
import { FOLDERS, SDK_HEADERS } from './scenarios.mjs';

const pathOf = (w) => new URL(w.url, 'https://x').pathname;
const isReport = (w, kind) => w.method === 'POST' && pathOf(w) === `/r/${kind}`;
const text = (w) => w.body.toString('utf8');

/** The reports in one native POST: a report-uri object, a Reporting API array, or WebKit's single report. */
export function reportsIn(w) {
  let body;
  try {
    body = JSON.parse(text(w));
  } catch {
    return [];
  }
  const items = Array.isArray(body) ? body : [body];
  return items.map((item) => ({
    item,
    array: Array.isArray(body),
    fields: item?.['csp-report'] ?? item?.body ?? item,
  }));
}

/** Every native report of a load, in arrival order: { stream, at, post, item, array, fields, type }. */
export function nativeReports(load) {
  const out = [];
  for (const w of load.wire) {
    for (const kind of ['uri', 'to']) {
      if (!isReport(w, kind)) continue;
      for (const r of reportsIn(w)) out.push({ stream: kind === 'uri' ? 'reportUri' : 'reportTo', at: w.at, post: w, ...r });
    }
  }
  for (const stream of ['reportUri', 'reportTo']) {
    const mine = out.filter((r) => r.stream === stream);
    typesOf(mine.map((r) => r.fields)).forEach((t, i) => (mine[i].type = t));
  }
  return out;
}

/** Per type: events, native reports per stream, and each report's delay after its event (ms). */
export function countsOf(load) {
  const events = load.seen.events;
  const native = nativeReports(load);
  const types = {};
  const slot = (t) => (types[t] ??= { events: 0, reportUri: 0, reportTo: 0 });
  const eventsOf = {};
  const eventTypes = typesOf(events);
  for (const [k, e] of events.entries()) {
    const t = eventTypes[k];
    slot(t).events++;
    (eventsOf[t] ??= []).push(load.seen.timeOrigin + e.now);
  }
  const seenOf = {};
  for (const r of native) {
    const s = slot(r.type);
    const i = (seenOf[`${r.stream} ${r.type}`] = (seenOf[`${r.stream} ${r.type}`] ?? -1) + 1);
    s[r.stream]++;
    // The i-th report of a type against the i-th event of it (the last one when there are more reports).
    const ev = eventsOf[r.type];
    if (ev?.length) {
      const d = (s.delayMs ??= {});
      (d[r.stream] ??= []).push(Math.round(r.at - ev[Math.min(i, ev.length - 1)]));
    }
    if (r.stream === 'reportTo' && typeof r.item?.age === 'number') ((s.ageMs ??= []).push(r.item.age));
  }
  const posts = {};
  for (const w of load.wire) {
    const p = pathOf(w);
    if (!p.startsWith('/r/')) continue;
    const k = `${w.method} ${p}`;
    posts[k] = (posts[k] ?? 0) + 1;
  }
  const order = (t) => (TYPES.includes(t) ? TYPES.indexOf(t) : TYPES.length);
  return {
    posts,
    types: Object.fromEntries(Object.entries(types).sort(([a], [b]) => order(a) - order(b) || (a < b ? -1 : 1))),
  };
}

const write = (file, data) => {
  mkdirSync(join(file, '..'), { recursive: true });
  writeFileSync(file, data);
};
const pretty = (o) => JSON.stringify(o, null, 2);

/** One key per line, and one line per element of a top-level array: diffable, a third of the size. */
export function lines(o) {
  const item = (v) => (Array.isArray(v) ? `[${v.length ? `\n${v.map((x) => `  ${JSON.stringify(x)}`).join(',\n')}\n ` : ''}]` : JSON.stringify(v));
  return `{\n${Object.entries(o)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => ` ${JSON.stringify(k)}: ${item(v)}`)
    .join(',\n')}\n}\n`;
}

/**
 * `loads`: scenario name → { scenario, seen, wire, t0 }. Writes `<out>/<engine>-<major>/` and returns
 * its path and what it wrote per folder.
 */
export function writeFixtures(out, engine, loads, page) {
  const root = join(out, `${engine.name}-${engine.major}`);
  write(join(root, 'page.html'), page);

  for (const f of FOLDERS) {
    const dir = join(root, f.dir);
    // --only may have left out a load: write what the others give.
    const none = { seen: { events: [] }, wire: [] };
    const uri = loads[f.uri] ?? none;
    const to = loads[f.to] ?? none;
    const groups = (list, types) => {
      const m = new Map();
      for (const [i, x] of list.entries()) {
        const t = types[i];
        if (!m.has(t)) m.set(t, []);
        m.get(t).push(x);
      }
      return m;
    };
    const nativeOf = (load, stream) => nativeReports(load).filter((r) => r.stream === stream);
    const byType = (reports) => groups(reports, reports.map((r) => r.type));
    const eventsByType = groups(uri.seen.events, typesOf(uri.seen.events));
    const uriByType = byType(nativeOf(uri, 'reportUri'));
    const toByType = byType(nativeOf(to, 'reportTo'));
    const types = new Set([...eventsByType.keys(), ...uriByType.keys(), ...toByType.keys()]);
    // report-uri bodies byte for byte; a report of a report-to array as `[report]` (the raw batches
    // are in report-to-batch-raw.json and wire/); WebKit's one-report POSTs byte for byte.
    const uriBody = (r) => text(r.post);
    const toBody = (r) => (r.array ? JSON.stringify([r.item]) : text(r.post));
    for (const t of types) {
      const ev = eventsByType.get(t) ?? [];
      const ru = uriByType.get(t) ?? [];
      const rt = toByType.get(t) ?? [];
      if (ev[0]) write(join(dir, `event-${t}.json`), pretty(ev[0]));
      if (ru[0]) write(join(dir, `report-uri-${t}.json`), uriBody(ru[0]));
      if (rt[0]) write(join(dir, `report-to-${t}.json`), toBody(rt[0]));
      // Several of a type (two <img> of one URL, a repeated eval, an engine reporting twice): keep
      // every one, numbered in the order seen, so that counts per occurrence can be replayed.
      if (ev.length > 1) ev.forEach((e, i) => write(join(dir, `event-${t}.${i + 1}.json`), pretty(e)));
      if (ru.length > 1) ru.forEach((r, i) => write(join(dir, `report-uri-${t}.${i + 1}.json`), uriBody(r)));
      if (rt.length > 1) rt.forEach((r, i) => write(join(dir, `report-to-${t}.${i + 1}.json`), toBody(r)));
    }
    const batches = to.wire.filter((w) => isReport(w, 'to'));
    const biggest = batches.reduce((a, w) => (a && reportsIn(a).length >= reportsIn(w).length ? a : w), undefined);
    if (biggest) write(join(dir, 'report-to-batch-raw.json'), text(biggest));
  }

  // Raw request headers, in the order sent.
  const headers = (file, scenario, w) => {
    if (w) write(join(root, 'headers', `${file}.json`), pretty({ scenario, method: w.method, url: w.url, rawHeaders: w.rawHeaders }));
  };
  const first = (name, pred) => loads[name]?.wire.find(pred);
  headers('report-uri-same-origin', 'a_uri', first('a_uri', (w) => isReport(w, 'uri')));
  headers('report-to-same-origin', 'b_to', first('b_to', (w) => isReport(w, 'to')));
  headers('report-uri-cross-origin', 'e_cross_uri', first('e_cross_uri', (w) => isReport(w, 'uri')));
  headers('report-to-cross-origin-post', 'e_cross_star', first('e_cross_star', (w) => isReport(w, 'to')));
  headers('report-to-cross-origin-preflight', 'e_cross_star', first('e_cross_star', (w) => w.method === 'OPTIONS' && pathOf(w) === '/r/to'));
  for (const [via, method] of SDK_HEADERS) {
    const re = new RegExp(`[?&]via=${via}(&|$)`);
    headers(`sdk-${via}-${method}`, 'a_uri', first('a_uri', (w) => w.method === method && pathOf(w) === '/r/sdk' && re.test(w.url)));
  }

  // Every load as it happened: each request's bytes, and what the page's listener saw.
  const summary = {};
  for (const [name, load] of Object.entries(loads)) {
    const requests = load.wire.map((w) => ({
      at: w.at - load.t0,
      server: w.server,
      method: w.method,
      url: w.url,
      rawHeaders: w.rawHeaders,
      body: text(w),
    }));
    write(
      join(root, 'wire', `${name}.json`),
      lines({ scenario: load.scenario, url: load.seen.url, userAgent: load.seen.userAgent, timeOrigin: load.seen.timeOrigin, t0: load.t0, closedAt: load.closedAt - load.t0, notes: load.seen.notes, events: load.seen.events, reportingObserver: load.seen.robs, requests }),
    );
    summary[name] = { scenario: load.scenario, url: load.seen.url, ...countsOf(load) };
  }
  write(join(root, 'counts.json'), pretty({ engine: engine.name, version: engine.version, userAgent: Object.values(loads)[0]?.seen.userAgent, loads: summary }));
  return root;
}
