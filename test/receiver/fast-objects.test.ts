import { setFlagsFromString } from 'node:v8';
import type { SdkBatch } from '@csp-lens/schema';
import { describe, expect, it } from 'vitest';
import { normalizeNative, normalizeSdk } from '../../packages/receiver/src/core/normalize.js';
import { parseBody } from '../../packages/receiver/src/core/parse.js';
import { createState, emptyData } from '../../packages/receiver/src/core/state.js';

// Violations and records are built key by key. Built with `delete` or with `obj[key] = …` over a
// variable key, V8 turns such objects into slow dictionaries past a dozen properties: measured, 3 KB
// of heap per live record instead of under 1 KB, and 8% of the receiver's CPU per request
// (bench/notes.md). This pins the shape of every object the merge keeps alive.
setFlagsFromString('--allow-natives-syntax');
const hasFastProperties = new Function('o', 'return %HasFastProperties(o)') as (o: object) => boolean;

const T0 = 1_795_302_980_000;
const UA = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/156.0.0.0 Safari/537.36';
const POLICY = "default-src 'self'; img-src 'self'; report-uri /csp/report";

/** Every field a report can carry, on both streams; the SDK's referrer differs (an sdkValues entry). */
const fields = {
  documentURL: 'https://shop.example/cart?id=1',
  referrer: 'https://shop.example/',
  blockedURL: 'https://cdn.tracker.example/pixel.gif?u=1',
  effectiveDirective: 'img-src',
  violatedDirective: 'img-src',
  disposition: 'enforce',
  sourceFile: 'https://shop.example/app.js',
  lineNumber: 12,
  columnNumber: 7,
  sample: '',
  statusCode: 200,
};

function batches() {
  const native = normalizeNative(
    parseBody(
      JSON.stringify({
        'csp-report': {
          'document-uri': fields.documentURL, referrer: fields.referrer, 'blocked-uri': fields.blockedURL,
          'effective-directive': fields.effectiveDirective, 'violated-directive': fields.violatedDirective,
          disposition: fields.disposition, 'source-file': fields.sourceFile, 'line-number': fields.lineNumber,
          'column-number': fields.columnNumber, 'script-sample': 'x', 'status-code': fields.statusCode, 'original-policy': POLICY,
        },
      }),
      'application/csp-report',
    ),
    { receivedAt: T0 + 200, userAgent: UA, clientIp: '203.0.113.0' },
  );
  const batch: SdkBatch = {
    v: 1,
    sentAt: T0 + 100,
    page: { id: 'pv_1', url: `${fields.documentURL}#step-2`, policies: [POLICY], release: '1.2.3', context: { plan: 'pro' } },
    events: [
      {
        t: T0, count: 3, documentURI: fields.documentURL, referrer: `${fields.referrer}?from=sdk`, blockedURI: `${fields.blockedURL}#frag`,
        effectiveDirective: fields.effectiveDirective, violatedDirective: fields.violatedDirective, policy: 0,
        disposition: 'enforce', statusCode: fields.statusCode, sourceFile: fields.sourceFile, lineNumber: 12, columnNumber: 7,
        sample: 'x', sinceLoad: 1234.5, element: { tag: 'img', selector: 'main > img.pixel', attr: 'src', url: `${fields.blockedURL}#frag` },
      },
    ],
  } as unknown as SdkBatch;
  const sdk = normalizeSdk(batch, { receivedAt: T0 + 150, userAgent: UA, clientIp: '203.0.113.0' });
  return { native, sdk };
}

describe('objects the store keeps alive', () => {
  it('are fast (not dictionary-mode) objects: normalized violations of both streams, records, a merged record and its sdkValues', () => {
    const { native, sdk } = batches();
    const violations = [...native.violations, ...sdk.violations];
    expect(violations).toHaveLength(2);
    // The test means something only if the objects are as large as they get.
    expect(Object.keys(sdk.violations[0]).length).toBeGreaterThanOrEqual(20);
    expect(sdk.violations[0].element).toMatchObject({ tag: 'img', attr: 'src' });
    for (const v of violations) expect(hasFastProperties(v), `${v.stream} violation`).toBe(true);

    const state = createState(emptyData(), { mergeWindowMs: 10_000, maxRecords: 100, groupCapPerMinute: 100 });
    state.ingest(sdk);
    const [alone] = state.records.values();
    expect(hasFastProperties(alone), 'an SDK-only record').toBe(true);
    state.ingest(native);
    const [merged] = state.records.values();
    expect(merged.sources).toEqual({ sdk: 3, reportUri: 1, reportTo: 0 });
    expect(merged.sdkValues).toEqual({ referrer: `${fields.referrer}?from=sdk` });
    expect(Object.keys(merged).length).toBeGreaterThanOrEqual(25);
    expect(hasFastProperties(merged), 'a merged record').toBe(true);
    expect(hasFastProperties(merged.sdkValues!), 'its sdkValues').toBe(true);
  });
});
