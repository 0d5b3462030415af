import type { NormalizedViolation, ReportFields } from '@csp-lens/schema';
import { categorize, severity } from './classify.js';
import { CAP, int, pick, str, urlNoFragment, type Obj } from './fields.js';
import { directiveOf, type InvalidReason } from './directives.js';

// One reader for every spelling of the same field: report-uri's kebab-case, the Reporting API's
// camelCase, the SDK's event names (documentURI, blockedURI) and older browsers' variants.
const NAMES = {
  documentURL: ['documentURL', 'document-uri', 'documentURI', 'document-url'],
  referrer: ['referrer'],
  blockedURL: ['blockedURL', 'blocked-uri', 'blockedURI', 'blocked-url'],
  effectiveDirective: ['effectiveDirective', 'effective-directive'],
  violatedDirective: ['violatedDirective', 'violated-directive'],
  originalPolicy: ['originalPolicy', 'original-policy'],
  disposition: ['disposition'],
  sourceFile: ['sourceFile', 'source-file'],
  lineNumber: ['lineNumber', 'line-number'],
  columnNumber: ['columnNumber', 'column-number'],
  sample: ['sample', 'script-sample'],
  statusCode: ['statusCode', 'status-code'],
} as const;

/**
 * A nonce is new on every response, so keeping it would make every page view's policy distinct and
 * grow the policy table without bound; it is also a secret of that response. One placeholder keeps
 * the policy readable: `'nonce-…'`.
 */
export const redactNonces = (policy: string | undefined) => policy?.replace(/'nonce-[^']*'/gi, "'nonce-…'");

/** Line/column: 0, "", null and missing all mean unknown (DESIGN §4). */
const position = (v: unknown) => int(v, 1, 10_000_000);

export interface ReadReport extends ReportFields {
  originalPolicy?: string;
}

/**
 * The report fields of one report object, normalized; `{ invalid }` with the reason when it lacks
 * what every report has: a document URL and a directive (one of CSP's, see directives.ts).
 */
export function readReport(o: Obj, documentFallback?: unknown): ReadReport | { invalid: InvalidReason } {
  const documentURL = urlNoFragment(pick(o, NAMES.documentURL)) ?? urlNoFragment(documentFallback);
  const violatedDirective = str(pick(o, NAMES.violatedDirective), CAP.directiveList)?.trim() || undefined;
  // CSP1/2 browsers send no effective-directive, and some put the whole source list in
  // violated-directive ("script-src 'self' https://cdn…"): its first token names the directive.
  const effectiveDirective = directiveOf(str(pick(o, NAMES.effectiveDirective), CAP.directiveList), violatedDirective);
  if (!documentURL) return { invalid: 'no-document' };
  if (typeof effectiveDirective !== 'string') return effectiveDirective;
  const said = pick(o, NAMES.disposition);
  // No disposition at all (WebKit's report-uri, CSP2 browsers) is not "enforce": unknown, until the
  // SDK event of the same violation, or another report of the same policy, tells.
  const disposition = said === 'report' || said === 'enforce' ? said : 'unknown';
  const lineNumber = position(pick(o, NAMES.lineNumber));
  return {
    documentURL,
    referrer: str(pick(o, NAMES.referrer), CAP.url),
    blockedURL: urlNoFragment(pick(o, NAMES.blockedURL)),
    effectiveDirective,
    // CSP3 §5.3 defines violatedDirective as a copy of effectiveDirective "kept for historical
    // reasons": a report that sends only the one (Chromium's report-to) has both.
    violatedDirective: violatedDirective ?? effectiveDirective,
    disposition,
    sourceFile: urlNoFragment(pick(o, NAMES.sourceFile)),
    lineNumber,
    // A column without a line says nothing: the event's `1` for "no position", Firefox's report-uri
    // `column-number: 1`, where its report-to says null (test/fixtures/ENGINES.md, rule 2).
    columnNumber: lineNumber === undefined ? undefined : position(pick(o, NAMES.columnNumber)),
    sample: str(pick(o, NAMES.sample), CAP.sample),
    statusCode: int(pick(o, NAMES.statusCode), 0, 999),
    originalPolicy: redactNonces(str(pick(o, NAMES.originalPolicy), CAP.policy)),
  };
}

type Extra = Omit<NormalizedViolation, keyof ReportFields | 'category' | 'severity' | 'originalPolicy'>;

/** Report fields + stream data ⇒ the classified violation, with no undefined-valued keys. */
export function toViolation(fields: ReadReport, extra: Extra): NormalizedViolation {
  const category = categorize(fields.blockedURL, fields.documentURL, fields.effectiveDirective);
  // Only defined keys, each set by name in one fixed order. Neither `delete` nor `v[key] = …` with a
  // variable key: past a dozen properties either turns the object into a slow dictionary, for every
  // later read, for the merge and the journal's JSON.stringify, and for the heap it lives in.
  const v = {} as NormalizedViolation;
  copyReportFields(v, fields);
  if (fields.originalPolicy !== undefined) v.originalPolicy = fields.originalPolicy;
  v.stream = extra.stream;
  v.occurredAt = extra.occurredAt;
  v.receivedAt = extra.receivedAt;
  v.count = extra.count;
  if (extra.userAgent !== undefined) v.userAgent = extra.userAgent;
  if (extra.clientIp !== undefined) v.clientIp = extra.clientIp;
  if (extra.page !== undefined) v.page = extra.page;
  if (extra.element !== undefined) v.element = extra.element;
  if (extra.noElement !== undefined) v.noElement = extra.noElement;
  if (extra.sinceLoad !== undefined) v.sinceLoad = extra.sinceLoad;
  v.category = category;
  v.severity = severity({ effectiveDirective: fields.effectiveDirective, category });
  return v;
}

/**
 * Copies the defined report fields of `from` onto `to`, by name, in the order of `ReportFields`
 * (what the files and the API show). Named stores keep `to` a fast object; see `toViolation`.
 */
export function copyReportFields(to: Partial<ReportFields>, from: ReportFields): void {
  if (from.documentURL !== undefined) to.documentURL = from.documentURL;
  if (from.referrer !== undefined) to.referrer = from.referrer;
  if (from.blockedURL !== undefined) to.blockedURL = from.blockedURL;
  if (from.effectiveDirective !== undefined) to.effectiveDirective = from.effectiveDirective;
  if (from.violatedDirective !== undefined) to.violatedDirective = from.violatedDirective;
  if (from.disposition !== undefined) to.disposition = from.disposition;
  if (from.sourceFile !== undefined) to.sourceFile = from.sourceFile;
  if (from.lineNumber !== undefined) to.lineNumber = from.lineNumber;
  if (from.columnNumber !== undefined) to.columnNumber = from.columnNumber;
  if (from.sample !== undefined) to.sample = from.sample;
  if (from.statusCode !== undefined) to.statusCode = from.statusCode;
}
