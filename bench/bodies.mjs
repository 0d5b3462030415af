// Realistic request bodies built from the real Chromium 156 payloads in test/fixtures: the
// three streams (report-uri, report-to batches, SDK batches) with many distinct documents, page
// views and blocked hosts, so the receiver merges, groups and evicts as it would in production.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const FIXTURES = fileURLToPath(new URL('../test/fixtures/chromium-156/', import.meta.url));
export const UA = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/156.0.0.0 Safari/537.36';

const json = (dir, f) => JSON.parse(readFileSync(join(FIXTURES, dir, f), 'utf8'));

/** The fixtures as templates: report-uri bodies, single report-to reports, SDK events + policy. */
export function loadTemplates() {
  const reportUri = [];
  const reportTo = [];
  const events = [];
  for (const dir of ['enforce', 'report-only']) {
    for (const f of readdirSync(join(FIXTURES, dir)).sort()) {
      if (f.startsWith('report-uri-')) reportUri.push(json(dir, f)['csp-report']);
      else if (f.startsWith('report-to-') && f !== 'report-to-batch-raw.json') reportTo.push(...json(dir, f));
      else if (f.startsWith('event-')) events.push(sdkEvent(json(dir, f)));
    }
  }
  return { reportUri, reportTo, events };
}

// A probe's event dump ⇒ what the SDK would send for it (SdkEvent in packages/schema/src/wire.ts).
function sdkEvent(e) {
  const el = e.target?.nodeName && e.target.nodeName !== '#document' ? e.target : e.candidates?.[0];
  const event = {
    t: 0,
    count: 1,
    sinceLoad: Math.round(e.now ?? 0),
    documentURI: e.documentURI,
    blockedURI: e.blockedURI,
    effectiveDirective: e.effectiveDirective,
    violatedDirective: e.violatedDirective,
    disposition: e.disposition,
    statusCode: e.statusCode,
    sourceFile: e.sourceFile,
    lineNumber: e.lineNumber,
    columnNumber: e.columnNumber,
    sample: e.sample,
    referrer: e.referrer,
  };
  if (el) {
    event.element = { tag: el.nodeName.toLowerCase(), selector: el.id ? `#${el.id}` : el.nodeName.toLowerCase() };
    if (el.attr) Object.assign(event.element, { attr: el.attr, url: el.value });
  } else event.noElement = 'none';
  return { event, policy: e.originalPolicy };
}

// The fixtures' page and third-party origins and run ids, rewritten per generated document.
const PAGE = /https:\/\/127\.0\.0\.1:8811\/p\?run=[\w-]+/g;
const PAGE_ORIGIN = /https:\/\/127\.0\.0\.1:8811/g;
const THIRD = /(127\.0\.0\.1|localhost):8813/g;

/**
 * A deterministic stream of mixed requests. Document `d` lives on one of `sites` sites, its third
 * parties on one of `hosts` hosts (so groups grow with hosts, records with documents).
 */
export function createGenerator({ docs = 5000, sites = 40, hosts = 200, prefix = '/csp', runId = 'b' } = {}) {
  const t = loadTemplates();
  const site = (d) => `https://site${d % sites}.example`;
  const rewrite = (s, d) =>
    typeof s !== 'string'
      ? s
      : s
          .replace(PAGE, `${site(d)}/p/${d % 997}?run=${runId}${d}`)
          .replace(PAGE_ORIGIN, site(d))
          .replace(THIRD, `cdn${(d * 7) % hosts}.example`);
  const rewriteAll = (o, d, skip) => {
    const out = {};
    for (const [k, v] of Object.entries(o)) out[k] = skip.has(k) ? v : rewrite(v, d);
    return out;
  };
  // The policy names the report endpoint with the probe's run id: keep it, one policy per template,
  // as a site without per-response nonces has (see BENCHMARKS.md on nonces).
  const keepPolicy = new Set(['original-policy', 'originalPolicy']);

  const reportUri = (i, d = i % docs) => {
    const tpl = t.reportUri[i % t.reportUri.length];
    return JSON.stringify({ 'csp-report': rewriteAll(tpl, d, keepPolicy) });
  };
  const reportToItem = (i, d = i % docs) => {
    const tpl = t.reportTo[i % t.reportTo.length];
    return { ...tpl, url: rewrite(tpl.url, d), user_agent: UA, body: rewriteAll(tpl.body, d, keepPolicy) };
  };
  /** `n` reports from `n` consecutive documents, as Chromium batches them per endpoint. */
  const reportToBatch = (i, n = 10) => JSON.stringify(Array.from({ length: n }, (_, k) => reportToItem(i * n + k, (i * n + k) % docs)));
  /** One page view's SDK batch: 1–6 events of the document, some repeated (count > 1). */
  const sdkBatch = (i, d = i % docs, now = Date.now()) => {
    const n = 1 + (i % 6);
    const policies = [];
    const events = [];
    for (let k = 0; k < n; k++) {
      const { event, policy } = t.events[(i + k * 5) % t.events.length];
      let p = policies.indexOf(policy);
      if (p < 0) p = policies.push(policy) - 1;
      const e = rewriteAll(event, d, new Set(['element']));
      if (event.element) e.element = rewriteAll(event.element, d, new Set());
      events.push({ ...e, t: now - 200 + k, count: 1 + ((i + k) % 3), policy: p });
    }
    return JSON.stringify({
      v: 1,
      sentAt: now,
      page: { id: `pv_${runId}${d}`, session: `s_${d % 331}`, url: `${site(d)}/p/${d % 997}?run=${runId}${d}#top`, viewport: [1280, 720], lang: 'en', release: 'bench', policies },
      events,
    });
  };

  /** Request `i` of the mixed stream: 60% report-uri, 20% report-to batches of 10, 20% SDK batches. */
  const mixed = (i) => {
    const k = i % 10;
    if (k < 6) return { path: `${prefix}/report`, type: 'application/csp-report', body: reportUri(i), reports: 1 };
    if (k < 8) return { path: `${prefix}/report`, type: 'application/reports+json', body: reportToBatch(i), reports: 10 };
    return { path: `${prefix}/sdk`, type: 'text/plain;charset=UTF-8', body: sdkBatch(i), reports: 1 + (i % 6) };
  };

  return { templates: t, reportUri, reportToItem, reportToBatch, sdkBatch, mixed };
}
