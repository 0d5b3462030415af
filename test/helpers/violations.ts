import fc from 'fast-check';
import type { SdkBatch } from '@csp-lens/schema';
import { normalizeNative, normalizeSdk } from '../../packages/receiver/src/core/normalize.js';
import type { IngestBatch } from '../../packages/receiver/src/core/types.js';

// Random violations drawn from small domains, so that many share key fields, page views and times:
// the ambiguous cases (two page views, same violation, same second) are the common case here.
export const violation = fc.record({
  doc: fc.constantFrom('https://s.test/a', 'https://s.test/b?q=1'),
  directive: fc.constantFrom('img-src', 'script-src-elem', 'frame-src'),
  blocked: fc.constantFrom('https://x.test/1.png', 'https://x.test/2.png', 'https://x.test', 'inline', 'https://y.test/z.js'),
  line: fc.constantFrom(0, 7, 9),
  disposition: fc.constantFrom<'enforce' | 'report'>('enforce', 'report'),
  ua: fc.constantFrom('UA/1', 'UA/2'),
  page: fc.constantFrom('pv1', 'pv2', 'pv3'),
  t: fc.integer({ min: 0, max: 20_000 }),
  count: fc.integer({ min: 1, max: 3 }),
  sdk: fc.boolean(),
  uri: fc.boolean(),
  to: fc.boolean(),
  /** Network and batching delays, ms. */
  sdkDelay: fc.integer({ min: 0, max: 8_000 }),
  uriDelay: fc.integer({ min: 0, max: 3_000 }),
  toDelay: fc.integer({ min: 0, max: 120_000 }),
  skew: fc.integer({ min: -5_000, max: 5_000 }),
  /**
   * What the native reports look like (test/fixtures/ENGINES.md): Chromium one report per violation
   * per document; Firefox and WebKit one per occurrence, Firefox with null (report-to) or
   * `column-number: 1` (report-uri) for what it does not know, WebKit's report-uri without
   * disposition and sample, and without position for what its parser found (line 7 here).
   */
  engine: fc.constantFrom<'chromium' | 'firefox' | 'webkit'>('chromium', 'firefox', 'webkit'),
});
export type V = typeof violation extends fc.Arbitrary<infer T> ? T : never;

export const T0 = 1_800_000_000_000;

/** The messages the three streams would deliver for one violation, each with its arrival time. */
export type Message = { at: number; batch: IngestBatch; stream: string; count: number };

export function messages(v: V): { at: number; batch: IngestBatch; stream: string; count: number }[] {
  const out: { at: number; batch: IngestBatch; stream: string; count: number }[] = [];
  const happened = T0 + v.t;
  const line = v.line || undefined;
  // WebKit's parser-found violations: the event has no source file, the report-uri report no position.
  const parserFound = v.engine === 'webkit' && line === 7;
  const sourceFile = line && !parserFound ? v.doc : '';
  const policy = `img-src none; report-uri /r${v.directive.length}`;
  if (v.sdk) {
    const receivedAt = happened + v.sdkDelay;
    const body: SdkBatch = {
      v: 1,
      sentAt: receivedAt + v.skew,
      page: { id: v.page, url: `${v.doc}#x`, policies: [policy] },
      events: [
        {
          t: happened + v.skew,
          count: v.count,
          documentURI: v.doc,
          blockedURI: v.blocked,
          effectiveDirective: v.directive,
          violatedDirective: v.directive,
          policy: 0,
          disposition: v.disposition,
          statusCode: 200,
          sourceFile,
          lineNumber: line ?? 0,
          columnNumber: line ? 3 : 1,
          sample: v.blocked === 'inline' ? `sample ${line ?? 0}` : '',
          referrer: '',
        },
      ],
    };
    out.push({ at: receivedAt, batch: normalizeSdk(body, { receivedAt, userAgent: v.ua }), stream: 'sdk', count: v.count });
  }
  // Chromium sends one report per violation per document, the others one per occurrence.
  const copies = v.engine === 'chromium' ? 1 : v.count;
  const sample = v.blocked === 'inline' ? `sample ${line ?? 0}` : '';
  for (let i = 0; i < copies; i++) {
    const happenedI = happened + i * 40;
    if (v.uri) {
      const receivedAt = happenedI + v.uriDelay;
      const report: Record<string, unknown> = {
        'document-uri': v.doc,
        'effective-directive': v.directive,
        'violated-directive': v.directive,
        'blocked-uri': v.blocked,
        'original-policy': policy,
        'status-code': 200,
      };
      if (v.engine !== 'webkit') Object.assign(report, { disposition: v.disposition, 'script-sample': sample });
      if (line && !parserFound) Object.assign(report, { 'source-file': sourceFile, 'line-number': line, 'column-number': 3 });
      else if (v.engine === 'firefox') report['column-number'] = 1;
      const body = v.engine === 'webkit' ? { type: 'csp-violation', url: v.doc, 'csp-report': report } : { 'csp-report': report };
      out.push({ at: receivedAt, batch: normalizeNative(body, { receivedAt, userAgent: v.ua }), stream: 'reportUri', count: 1 });
    }
    if (v.to) {
      const receivedAt = happenedI + v.toDelay;
      const unknown = v.engine === 'firefox' ? null : undefined;
      const report = {
        type: 'csp-violation',
        url: v.doc,
        body: {
          documentURL: v.doc,
          effectiveDirective: v.directive,
          blockedURL: v.blocked,
          disposition: v.disposition,
          originalPolicy: policy,
          statusCode: 200,
          sourceFile: sourceFile || unknown,
          lineNumber: line ?? unknown,
          columnNumber: line ? 3 : unknown,
          sample: sample || unknown,
        },
      };
      // WebKit: one report per POST, not in an array, with no age and no user_agent.
      const body = v.engine === 'webkit' ? report : [{ ...report, age: v.toDelay, user_agent: v.ua }];
      const userAgent = v.engine === 'webkit' ? v.ua : 'header';
      out.push({ at: receivedAt, batch: normalizeNative(body, { receivedAt, userAgent }), stream: 'reportTo', count: 1 });
    }
  }
  return out;
}
