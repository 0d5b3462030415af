import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { NormalizedViolation, ReportFields } from '@csp-lens/schema';
import { describe, expect, it } from 'vitest';
import { normalizeNative } from '../../packages/receiver/src/core/normalize.js';
import { parseBody } from '../../packages/receiver/src/core/parse.js';
import type { RequestMeta } from '../../packages/receiver/src/core/types.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/chromium-156/', import.meta.url));
const read = (file: string) => readFileSync(FIXTURES + file, 'utf8');
const meta: RequestMeta = { receivedAt: 1_795_302_990_000, userAgent: 'header-ua', clientIp: '203.0.113.0' };

// Nonces are per response: the receiver keeps a placeholder (one policy entry, no secret stored).
const redacted = (policy: string) => policy.replace(/'nonce-[^']*'/g, "'nonce-…'");

const normalize = (file: string, type: string) => normalizeNative(parseBody(read(file), type), meta);

/** What the page's securitypolicyviolation event saw, as report fields (0 and "" = absent). */
function fromEvent(ev: Record<string, unknown>): Partial<ReportFields> {
  const absent = (v: unknown) => (v === '' || v === 0 ? undefined : v);
  return {
    documentURL: String(ev.documentURI).split('#')[0],
    blockedURL: absent(String(ev.blockedURI).split('#')[0]) as string | undefined,
    effectiveDirective: ev.effectiveDirective as string,
    lineNumber: absent(ev.lineNumber) as number | undefined,
    columnNumber: absent(ev.columnNumber) as number | undefined,
    sourceFile: absent(ev.sourceFile) as string | undefined,
    sample: absent(ev.sample) as string | undefined,
    disposition: ev.disposition as 'enforce' | 'report',
    statusCode: ev.statusCode as number,
  };
}

const fieldsOf = (v: NormalizedViolation): Partial<ReportFields> => ({
  documentURL: v.documentURL,
  blockedURL: v.blockedURL,
  effectiveDirective: v.effectiveDirective,
  lineNumber: v.lineNumber,
  columnNumber: v.columnNumber,
  sourceFile: v.sourceFile,
  sample: v.sample,
  disposition: v.disposition,
  statusCode: v.statusCode,
});

/**
 * The events were captured on the report-uri run of the page; the report-to run was a second load
 * (other `run` query), where a few violations fired at another position or with another sample
 * (the eval report kept is the last `eval('2 + 2')`). For those fields the report-to body is the truth.
 */
const RUN_DIFFERENCES: Record<string, (keyof ReportFields)[]> = {
  'enforce/eval': ['lineNumber', 'columnNumber', 'sample'],
  'enforce/img-redirect': ['lineNumber', 'columnNumber', 'sourceFile'],
  'report-only/img': ['lineNumber', 'columnNumber'],
};

for (const mode of ['enforce', 'report-only']) {
  const types = readdirSync(FIXTURES + mode)
    .filter((f) => f.startsWith('event-'))
    .map((f) => f.slice('event-'.length, -'.json'.length));

  describe(`chromium-156 ${mode}`, () => {
    it('has a report-uri and a report-to fixture for every event', () => {
      expect(types.length).toBeGreaterThanOrEqual(17);
      for (const t of types) {
        expect(readdirSync(FIXTURES + mode)).toEqual(expect.arrayContaining([`report-uri-${t}.json`, `report-to-${t}.json`]));
      }
    });

    for (const t of types) {
      const ev = JSON.parse(read(`${mode}/event-${t}.json`));

      it(`normalizes report-uri ${t} to the fields the page's event saw`, () => {
        const batch = normalize(`${mode}/report-uri-${t}.json`, 'application/csp-report');
        expect(batch.invalid).toBe(0);
        expect(batch.violations).toHaveLength(1);
        const v = batch.violations[0]!;
        expect(fieldsOf(v)).toEqual(fromEvent(ev));
        expect(v).toMatchObject({
          stream: 'reportUri',
          occurredAt: meta.receivedAt,
          receivedAt: meta.receivedAt,
          count: 1,
          userAgent: 'header-ua',
          clientIp: '203.0.113.0',
          originalPolicy: redacted(ev.originalPolicy),
          violatedDirective: ev.violatedDirective,
          referrer: ev.referrer,
        });
        // Absent means absent, not a key holding undefined (lowdb would drop it anyway).
        expect(Object.values(v)).not.toContain(undefined);
      });

      it(`normalizes report-to ${t} to the same fields, on the reporter's clock`, () => {
        const raw = JSON.parse(read(`${mode}/report-to-${t}.json`))[0];
        const batch = normalize(`${mode}/report-to-${t}.json`, 'application/reports+json');
        expect(batch.violations).toHaveLength(1);
        const v = batch.violations[0]!;
        const expected = fromEvent(ev);
        for (const k of RUN_DIFFERENCES[`${mode}/${t}`] ?? []) {
          (expected as Record<string, unknown>)[k] = raw.body[k] ?? undefined;
        }
        // Same page, another load: only the run query differs.
        expect(new URL(v.documentURL).pathname).toBe(new URL(expected.documentURL!).pathname);
        expect(v.documentURL).toBe(raw.body.documentURL);
        expect({ ...fieldsOf(v), documentURL: '' }).toEqual({ ...expected, documentURL: '' });
        expect(v).toMatchObject({
          stream: 'reportTo',
          occurredAt: meta.receivedAt - raw.age,
          count: 1,
          userAgent: raw.user_agent,
          originalPolicy: redacted(raw.body.originalPolicy),
        });
        // Chromium's report-to body has no violatedDirective; CSP3 §5.3 makes it a copy of effectiveDirective.
        expect(raw.body.violatedDirective).toBeUndefined();
        expect(v.violatedDirective).toBe(v.effectiveDirective);
      });
    }

    it('replaces the per-response nonce in the policy with a placeholder', () => {
      const v = normalize(`${mode}/report-uri-img.json`, 'application/csp-report').violations[0]!;
      expect(v.originalPolicy).toContain("'nonce-…'");
      expect(v.originalPolicy).not.toContain('Nonce0123456789');
    });

    it('keeps every report of a whole report-to batch, in order', () => {
      const raw = JSON.parse(read(`${mode}/report-to-batch-raw.json`));
      const batch = normalize(`${mode}/report-to-batch-raw.json`, 'application/reports+json');
      expect(batch.invalid).toBe(0);
      expect(batch.otherReports).toEqual({});
      expect(batch.violations.map((v) => [v.effectiveDirective, v.blockedURL, v.lineNumber, v.occurredAt])).toEqual(
        raw.map((r: { age: number; body: Record<string, unknown> }) => [
          r.body.effectiveDirective,
          r.body.blockedURL,
          r.body.lineNumber ?? undefined,
          meta.receivedAt - r.age,
        ]),
      );
    });
  });
}

describe('classification of the fixtures', () => {
  const one = (file: string) => normalize(file, 'application/csp-report').violations[0]!;

  it('files the inline event handler as high-severity inline script', () => {
    expect(one('enforce/report-uri-inline-event-handler.json')).toMatchObject({ category: 'inline', severity: 'high' });
  });
  it('files the cross-origin fetch as a critical external connect-src', () => {
    expect(one('enforce/report-uri-fetch.json')).toMatchObject({ category: 'external', severity: 'critical' });
  });
  it('files the style attribute as low-severity inline style', () => {
    expect(one('report-only/report-uri-style-attr.json')).toMatchObject({ category: 'inline', severity: 'low' });
  });
  it('files the blob worker as blob and the cross-origin image as medium external', () => {
    expect(one('enforce/report-uri-worker.json')).toMatchObject({ category: 'blob', severity: 'low' });
    expect(one('enforce/report-uri-img.json')).toMatchObject({ category: 'external', severity: 'medium' });
  });
  it('files eval and new Function as high-severity eval', () => {
    expect(one('enforce/report-uri-eval.json')).toMatchObject({ category: 'eval', severity: 'high' });
    expect(one('enforce/report-uri-new-function.json')).toMatchObject({ category: 'eval', severity: 'high' });
  });
  it('files the same-origin redirect start as self', () => {
    expect(one('enforce/report-uri-img-redirect.json').category).toBe('self');
  });
});
