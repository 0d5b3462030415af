import type { NormalizedViolation } from '@csp-lens/schema';
import { bump, CAP, clampNum, countInvalid, FORBIDDEN_KEYS, isObject, own, str, type Obj } from './fields.js';
import { readReport, toViolation } from './report.js';
import { ClientError } from './errors.js';
import { type IngestBatch, type RequestMeta } from './types.js';
import type { InvalidReason } from './directives.js';

export { normalizeSdk } from './normalize-sdk.js';

/** Browsers send ≤ 100 per POST; more is not a browser. */
const MAX_NATIVE_BATCH = 1000;
/** Reporting API `age` beyond a day is a broken clock or a forgery; clamp it. */
const MAX_AGE_MS = 24 * 60 * 60 * 1000;

const isReportingApi = (o: Obj) => typeof own(o, 'type') === 'string' && isObject(own(o, 'body'));
const isLegacy = (o: Obj) =>
  ['document-uri', 'document-url', 'violated-directive', 'effective-directive'].some((k) => Object.hasOwn(o, k));

type Read = NormalizedViolation | { invalid: InvalidReason };

function fromReportUri(report: Obj, meta: RequestMeta): Read {
  const fields = readReport(report);
  return 'invalid' in fields ? fields : toViolation(fields, { ...common(meta), stream: 'reportUri', occurredAt: meta.receivedAt });
}

function fromReportTo(item: Obj, meta: RequestMeta): Read {
  // The report's `url` is the document's: the fallback for a body without documentURL.
  const fields = readReport(own(item, 'body') as Obj, own(item, 'url'));
  if ('invalid' in fields) return fields;
  // Safari sends no age: then it happened about when it arrived.
  const age = clampNum(own(item, 'age'), 0, MAX_AGE_MS) ?? 0;
  return toViolation(fields, {
    ...common(meta),
    stream: 'reportTo',
    occurredAt: meta.receivedAt - Math.round(age),
    userAgent: str(own(item, 'user_agent'), CAP.userAgent) ?? meta.userAgent,
  });
}

function common(meta: RequestMeta) {
  return { receivedAt: meta.receivedAt, count: 1, userAgent: meta.userAgent, clientIp: meta.clientIp };
}

/** A report type as a safe counter key: `deprecation`, `intervention`, `crash`, … */
function typeKey(type: unknown, seen: Obj): string {
  let name = (str(type, CAP.reportType) ?? '').toLowerCase().replace(/[^a-z0-9._-]/g, '_') || 'unnamed';
  if (FORBIDDEN_KEYS.has(name)) name = `_${name}`;
  if (Object.hasOwn(seen, name)) return name;
  // Distinct names are attacker-chosen: cap them so the stats table cannot be flooded.
  return Object.keys(seen).length < CAP.reportTypes ? name : 'other-types';
}

/** What a 400 says about a lone report that is no usable violation. */
const LACKS: Record<InvalidReason, string> = {
  'no-document': 'lacks a document URL',
  'no-directive': 'lacks a directive',
  'unknown-directive': 'names no CSP directive (effective-directive, violated-directive)',
};

/**
 * Every native report format (DESIGN §2) ⇒ normalized violations. Throws 400 when the body holds
 * no recognizable report; within a batch, unusable items are skipped and counted in `invalid`, per
 * reason (a non-2xx would make Chromium retry the whole batch).
 */
export function normalizeNative(body: unknown, meta: RequestMeta): IngestBatch {
  const batch: IngestBatch = { violations: [], otherReports: {}, invalid: 0 };
  if (Array.isArray(body)) {
    if (body.length === 0) throw new ClientError(400, 'not a CSP report: empty array');
    if (body.length > MAX_NATIVE_BATCH) {
      throw new ClientError(400, `too many reports in one batch: ${body.length} (max ${MAX_NATIVE_BATCH})`);
    }
    let recognized = 0;
    for (const item of body) {
      if (isObject(item) && isReportingApi(item)) {
        recognized++;
        if (own(item, 'type') !== 'csp-violation') {
          const key = typeKey(own(item, 'type'), batch.otherReports);
          bump(batch.otherReports, key);
          continue;
        }
        add(batch, fromReportTo(item, meta));
      } else if (isObject(item) && isObject(own(item, 'csp-report'))) {
        recognized++;
        add(batch, fromReportUri(own(item, 'csp-report') as Obj, meta));
      } else countInvalid(batch, 'not-a-report');
    }
    if (recognized === 0) throw new ClientError(400, 'not a CSP report: no item of the array is a report');
    return batch;
  }
  if (!isObject(body)) throw new ClientError(400, `not a CSP report: body is ${body === null ? 'null' : typeof body}`);
  let v: Read;
  let what: string;
  if (Object.hasOwn(body, 'csp-report')) {
    const report = own(body, 'csp-report');
    if (!isObject(report)) throw new ClientError(400, 'not a CSP report: "csp-report" is not an object');
    [v, what] = [fromReportUri(report, meta), '"csp-report"'];
  } else if (isReportingApi(body)) {
    // Safari: one Reporting API report, not in an array (sometimes as application/csp-report).
    if (own(body, 'type') !== 'csp-violation') {
      batch.otherReports[typeKey(own(body, 'type'), {})] = 1;
      return batch;
    }
    [v, what] = [fromReportTo(body, meta), 'the report body'];
  } else if (isLegacy(body)) {
    [v, what] = [fromReportUri(body, meta), 'the report'];
  } else {
    throw new ClientError(400, 'not a CSP report: expected "csp-report", a Reporting API report or an array of them');
  }
  if ('invalid' in v) throw new ClientError(400, `not a CSP report: ${what} ${LACKS[v.invalid]}`);
  batch.violations.push(v);
  return batch;
}

function add(batch: IngestBatch, v: Read): void {
  if ('invalid' in v) countInvalid(batch, v.invalid);
  else batch.violations.push(v);
}
