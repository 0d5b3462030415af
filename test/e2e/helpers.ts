import { request } from 'node:https';
import type { ViolationPage, ViolationRecord } from '@csp-lens/schema';
import { allRecords } from '../helpers/records.js';

/** GET a read-API URL with the token; https is verified against the demo's generated certificate. */
export async function getJson<T>(url: string, token: string, ca: string): Promise<T> {
  const headers = { authorization: `Bearer ${token}`, accept: 'application/json' };
  if (url.startsWith('http:')) {
    const res = await fetch(url, { headers });
    if (!res.ok) throw new Error(`GET ${url}: ${res.status} ${await res.text()}`);
    return (await res.json()) as T;
  }
  return new Promise<T>((resolve, reject) => {
    const req = request(url, { headers, ca }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => {
        if ((res.statusCode ?? 0) >= 300) reject(new Error(`GET ${url}: ${res.statusCode} ${body}`));
        else resolve(JSON.parse(body) as T);
      });
    });
    req.on('error', reject);
    req.end();
  });
}

/** Every stored record (all cursor pages). */
export const allViolations = (api: string, token: string, ca: string): Promise<ViolationRecord[]> =>
  allRecords((cursor) => getJson<ViolationPage>(`${api}/violations?limit=500${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, token, ca));

/** Polls until `done(records)` holds or the time is up; returns the last records either way. */
export async function pollRecords(
  read: () => Promise<ViolationRecord[]>,
  done: (records: ViolationRecord[]) => boolean,
  timeoutMs = 30_000,
): Promise<ViolationRecord[]> {
  const end = Date.now() + timeoutMs;
  let records: ViolationRecord[] = [];
  for (;;) {
    records = await read();
    if (done(records) || Date.now() > end) return records;
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** One violation a demo page triggers, and how to recognize its record. */
export interface Expected {
  name: string;
  directive: string;
  /** The stored blockedURL (fragment dropped; origin only for frame-src), or a test on it. */
  blocked: string | ((blocked: string | undefined) => boolean);
  sample?: string;
  /** Tells two violations with the same directive and blocked URL apart (e.g. a frame vs a form target). */
  sourceFile?: (sourceFile: string | undefined) => boolean;
  /** What the SDK can attach: the element's tag and the end of its full URL (fragment included). */
  element?: { tag: string; urlEnds?: string };
  /** The SDK count for a violation repeated in one page view. */
  count?: number;
  /** No event exists (frame-ancestors): native reports only, on another document. */
  nativeOnly?: boolean;
  /** More than one distinct violation (each its own merged record) is right here. */
  several?: boolean;
  /** Chromium does not always report it (neither event nor report): checked only when present. */
  optional?: boolean;
}

export function matches(r: ViolationRecord, e: Expected): boolean {
  if (r.effectiveDirective !== e.directive) return false;
  if (typeof e.blocked === 'string' ? r.blockedURL !== e.blocked : !e.blocked(r.blockedURL)) return false;
  if (e.sample !== undefined && !(r.sample ?? '').startsWith(e.sample)) return false;
  if (e.sourceFile && !e.sourceFile(r.sourceFile)) return false;
  return true;
}

/** The violations a demo page triggers while it loads (markup + triggers.js), as in the fixtures. */
export function expectedOnLoad(o: { origin: string; thirdParty: string; meta?: boolean; reportOnly?: boolean }): Expected[] {
  const TP = o.thirdParty;
  const TP_LH = TP.replace('127.0.0.1', 'localhost');
  const triggersJs = (f: string | undefined) => !!f && f.endsWith('/demo/triggers.js');
  const list: Expected[] = [
    { name: 'external stylesheet', directive: 'style-src-elem', blocked: `${TP}/static/s.css?css=1&k=v`, element: { tag: 'link', urlEnds: '/static/s.css?css=1&k=v' } },
    { name: 'inline style element', directive: 'style-src-elem', blocked: 'inline', sample: 'body { font-family', element: { tag: 'style' } },
    { name: 'external script', directive: 'script-src-elem', blocked: `${TP}/static/x.js?ext=1&token=[scrubbed]`, element: { tag: 'script', urlEnds: '/static/x.js?ext=1&token=[scrubbed]' } },
    { name: 'inline script', directive: 'script-src-elem', blocked: 'inline', sample: 'window.__inlineRan', element: { tag: 'script' } },
    { name: 'style attribute', directive: 'style-src-attr', blocked: 'inline', sample: 'color: red; background', element: { tag: 'div' } },
    {
      name: 'img with long path, query and #fragment',
      directive: 'img-src',
      blocked: `${TP}/images/some/very/long/path/segment/photo-1234567890.png?user=alice&token=[scrubbed]&utm_source=demo`,
      element: { tag: 'img', urlEnds: '&utm_source=demo#frag' },
    },
    { name: 'img on another site', directive: 'img-src', blocked: `${TP_LH}/img2/path.png?q=localhost`, element: { tag: 'img', urlEnds: '/img2/path.png?q=localhost' } },
    {
      name: 'img redirected to the third party',
      directive: 'img-src',
      blocked: (b) => !!b && (b.startsWith(`${o.origin}/demo/redir?`) || b.startsWith(`${TP}/redirect`)),
      element: { tag: 'img', urlEnds: '/demo/redir?to=' + encodeURIComponent(`${TP}/redirect?to=secret-path-k-v`) },
      // Report-only (the image loads, so Chromium may fetch it twice): in about one load of three
      // Chromium reports nothing at all for the redirect, no event and no report (seen; likely the
      // preload scanner's request, whose reports are suppressed, being reused by the parser); once
      // in a while it reports it twice, a violation without a source position and one at the
      // <img>'s line, each through both streams (seen in CI). Each record must still be whole.
      optional: o.reportOnly,
      several: o.reportOnly,
    },
    {
      name: 'cross-origin iframe',
      directive: 'frame-src',
      blocked: (b) => !!b && b.startsWith(TP),
      sourceFile: (f) => !triggersJs(f),
      element: { tag: 'iframe', urlEnds: '/frame.html?f=1&secret=[scrubbed]#frame' },
    },
    { name: 'form target frame', directive: 'frame-src', blocked: (b) => !!b && b.startsWith(TP), sourceFile: triggersJs },
    { name: 'form-action', directive: 'form-action', blocked: `${TP}/submit?form=1`, element: { tag: 'form', urlEnds: '/submit?form=1' } },
    // Report-only: Chromium reports the handler twice, with and without a source location (seen).
    { name: 'inline event handler', directive: 'script-src-attr', blocked: 'inline', sample: 'window.__clicked', element: { tag: 'div' }, several: o.reportOnly },
    { name: 'fetch', directive: 'connect-src', blocked: `${TP}/api/data?x=1&secret=[scrubbed]` },
    { name: 'eval', directive: 'script-src', blocked: 'eval', sample: 'window.__evalRan' },
    { name: 'eval loop #0', directive: 'script-src', blocked: 'eval', sample: '1 + 0' },
    { name: 'eval loop #1', directive: 'script-src', blocked: 'eval', sample: '1 + 1' },
    { name: 'eval loop #2', directive: 'script-src', blocked: 'eval', sample: '1 + 2' },
    { name: 'the same eval three times', directive: 'script-src', blocked: 'eval', sample: '2 + 2', count: 3 },
    { name: 'new Function', directive: 'script-src', blocked: 'eval', sample: '(function anonymous' },
    { name: 'blob worker', directive: 'worker-src', blocked: 'blob' },
    { name: 'dynamic img', directive: 'img-src', blocked: `${TP}/dyn/created-by-script.png?d=1`, element: { tag: 'img', urlEnds: '/dyn/created-by-script.png?d=1' } },
  ];
  // Chromium reports frame-ancestors with document and blocked URL cut to `${origin}/` (seen).
  if (!o.meta) list.push({ name: 'frame-ancestors of the framed page', directive: 'frame-ancestors', blocked: () => true, nativeOnly: true });
  return list;
}

/** One line per record, for failure messages. */
export function describeRecords(records: ViolationRecord[]): string {
  return records
    .map(
      (r) =>
        `${r.effectiveDirective} ${r.blockedURL ?? '-'} sample=${JSON.stringify(r.sample ?? '')} src=${r.sourceFile ?? '-'}:${r.lineNumber ?? '-'} ` +
        `sources=${JSON.stringify(r.sources)} count=${r.count} el=${r.element ? `${r.element.tag} ${r.element.url ?? ''}` : (r.noElement ?? '-')}`,
    )
    .join('\n');
}
