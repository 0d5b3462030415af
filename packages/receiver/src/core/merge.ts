import type {
  NormalizedViolation,
  ReportFields,
  Stream,
  StreamCounts,
  ViolationRecord,
} from '@csp-lens/schema';
import { blockedCompatible, blockedOrigin, isCutToOrigin } from './url.js';
import { recordId, seqOf } from './records.js';
import { copyReportFields } from './report.js';

/**
 * One stream's account of one violation in one page view. SDK repeats in a page view add to the
 * same unit (its `count`); a native report is a unit of its own: Chromium sends one per violation
 * per document, Firefox and WebKit one per occurrence.
 */
export interface Unit {
  seq: number;
  stream: Stream;
  at: number;
  count: number;
  firstReceivedAt: number;
  lastReceivedAt: number;
  v: NormalizedViolation;
  policyHash?: string;
  /** The record this unit is part of, after the last matching. */
  rid?: string;
  /** `exactKey(v)`, once asked for (memory only). */
  key?: string;
  /** `isWildcard(v)`, once asked for (memory only). */
  wide?: boolean;
}


const REPORT_FIELDS = [
  'documentURL',
  'referrer',
  'blockedURL',
  'effectiveDirective',
  'violatedDirective',
  'disposition',
  'sourceFile',
  'lineNumber',
  'columnNumber',
  'sample',
  'statusCode',
] as const satisfies readonly (keyof ReportFields)[];

/**
 * Units that may describe the same violation share a bucket: the fields every stream of every engine
 * reports alike (DESIGN §4, test/fixtures/ENGINES.md), the blocked URL reduced to its origin. The
 * rest (full blocked URL, line, column, sample, disposition) is compared by `compatible`, where a
 * native report may not know what the SDK event does.
 */
export function bucketKey(v: NormalizedViolation): string {
  return JSON.stringify([v.documentURL, v.effectiveDirective, blockedOrigin(v.blockedURL), v.sourceFile ?? null, v.userAgent ?? null]);
}

/**
 * How many fields the native unit `n` does not know that the SDK unit `s` does, when the two can be
 * one violation; -1 when they cannot. Blocked URLs agree when equal, or when one side was cut to the
 * origin. Every other field must agree, except in a report that leaves fields out altogether, which
 * the missing disposition gives away (WebKit's report-uri: no sample, no disposition and, for what
 * its parser found, no position; CSP2 browsers): there a field it lacks matches any value.
 */
export function compatible(s: NormalizedViolation, n: NormalizedViolation): number {
  if (!blockedCompatible(s.blockedURL, n.blockedURL)) return -1;
  const partial = n.disposition === 'unknown';
  let unknown = 0;
  for (const k of OPTIONAL_FIELDS) {
    const nv = n[k];
    if (partial && (nv === undefined || nv === 'unknown')) {
      if (s[k] !== undefined && s[k] !== 'unknown') unknown++;
    } else if (nv !== s[k]) return -1;
  }
  return unknown;
}

/** Key fields outside the bucket key: compared one by one (`compatible`). */
const OPTIONAL_FIELDS = ['lineNumber', 'columnNumber', 'sample', 'disposition'] as const satisfies readonly (keyof ReportFields)[];

/** A unit that can pair with more than its exact twin: a URL cut to the origin, or a report that leaves fields out. */
export function isWildcard(v: NormalizedViolation): boolean {
  return v.disposition === 'unknown' || (!!v.blockedURL && isCutToOrigin(v.blockedURL));
}

/** The fields that tell two violations of one bucket apart, when both sides know them all. */
export const exactKey = (v: NormalizedViolation): string => JSON.stringify([v.blockedURL ?? null, v.lineNumber ?? null, v.columnNumber ?? null, v.sample ?? null, v.disposition]);

/** A unit's exact key, asked for at every matching of its bucket: built once per unit. */
export const unitKey = (u: Unit): string => (u.key ??= exactKey(u.v));

/** Whether a unit pairs widely, asked for at every matching and bound check of its bucket: once per unit. */
export const unitWide = (u: Unit): boolean => (u.wide ??= isWildcard(u.v));

/**
 * Pairs each SDK unit with the native units of the same violation, nearest in time first, within
 * the window: up to as many of each stream as the SDK counted occurrences (Firefox and WebKit send
 * one report per occurrence, Chromium one per violation per document). A native unit from the SDK
 * unit's own client goes before one from another client (an SDK batch is anyone's to send, a
 * browser's report names its own client), and one that agrees on every field before one that does
 * not know some. The result depends only on the set of units, never on arrival order: ties are
 * broken by content, not by sequence. Returns the units of each record.
 */
export function matchUnits(units: Unit[], windowMs: number): Unit[][] {
  // The common case, a unit with nothing else in the bucket: its own record.
  if (units.length === 1) return [[units[0]!]];
  const sdk = units.filter((u) => u.stream === 'sdk').sort(byContent);
  const native = units.filter((u) => u.stream !== 'sdk').sort(byContent);
  // Candidates: a native unit's exact twin is found by its fields; one that can pair more widely (a
  // URL cut to the origin, a field it does not know) is looked at by every SDK unit. The work grows
  // with the pairs that can match, not with the product of the two sides.
  const exact = new Map<string, number[]>();
  const wide: number[] = [];
  native.forEach((n, i) => {
    if (unitWide(n)) wide.push(i);
    else exact.get(unitKey(n))?.push(i) ?? exact.set(unitKey(n), [i]);
  });
  const pairs: Pair[] = [];
  sdk.forEach((s, si) => {
    const add = (ni: number) => {
      const n = native[ni]!;
      const d = Math.abs(s.at - n.at);
      if (d > windowMs) return;
      const unknown = compatible(s.v, n.v);
      if (unknown >= 0) pairs.push({ other: s.v.clientIp !== n.v.clientIp && !!s.v.clientIp && !!n.v.clientIp, unknown, d, si, ni });
    };
    if (s.v.blockedURL && isCutToOrigin(s.v.blockedURL)) native.forEach((_, ni) => add(ni));
    else {
      for (const ni of exact.get(unitKey(s)) ?? []) add(ni);
      for (const ni of wide) add(ni);
    }
  });
  pairs.sort((a, b) => Number(a.other) - Number(b.other) || a.unknown - b.unknown || a.d - b.d || a.si - b.si || a.ni - b.ni);
  const partners = sdk.map((s) => [s]);
  // Occurrences of each stream an SDK unit has taken: at most its own count.
  const taken = sdk.map(() => ({ sdk: 0, reportUri: 0, reportTo: 0 }));
  const used = new Set<number>();
  for (const { si, ni } of pairs) {
    const n = native[ni]!;
    if (used.has(ni) || taken[si]![n.stream] + n.count > sdk[si]!.count) continue;
    partners[si]!.push(n);
    taken[si]![n.stream] += n.count;
    used.add(ni);
  }
  return [...partners, ...native.filter((_, ni) => !used.has(ni)).map((n) => [n])];
}

interface Pair {
  /** The SDK unit came from another client than the native one. */
  other: boolean;
  /** Fields the native unit does not know. */
  unknown: number;
  d: number;
  si: number;
  ni: number;
}

function byContent(a: Unit, b: Unit): number {
  return a.at - b.at || cmp(a.stream, b.stream) || cmp(a.v.page?.id, b.v.page?.id) || cmp(a.v.blockedURL, b.v.blockedURL);
}

function cmp(a: string | undefined, b: string | undefined): number {
  return a === b ? 0 : (a ?? '') < (b ?? '') ? -1 : 1;
}

/**
 * One record from the units the matching put together. Native report fields win over the SDK's;
 * a field a native report does not know comes from another native unit, else from the SDK event.
 */
export function buildRecord(parts: Unit[], groupId: string): ViolationRecord {
  let sdk: Unit | undefined;
  let native: Unit | undefined;
  for (const p of parts) {
    if (p.stream === 'sdk') sdk ??= p;
    else native ??= p;
  }
  const base = (native ?? sdk)!;
  const sources: StreamCounts = { sdk: 0, reportUri: 0, reportTo: 0 };
  const streamTimes: Partial<Record<Stream, number>> = {};
  let occurredAt = Infinity;
  let firstReceivedAt = Infinity;
  let lastReceivedAt = -Infinity;
  for (const p of parts) {
    sources[p.stream] += p.count;
    streamTimes[p.stream] = Math.min(streamTimes[p.stream] ?? Infinity, p.at);
    occurredAt = Math.min(occurredAt, p.at);
    firstReceivedAt = Math.min(firstReceivedAt, p.firstReceivedAt);
    lastReceivedAt = Math.max(lastReceivedAt, p.lastReceivedAt);
  }
  const fields = parts.length > 1 ? filled(base, parts) : base.v;
  // Built key by key, by name (a fast object, see `toViolation`), in the order the record always
  // had (it is what the files and the API show); no undefined-valued keys.
  const record = { id: recordId((sdk ?? base).seq), groupId } as ViolationRecord;
  copyReportFields(record, fields);
  record.category = base.v.category;
  record.severity = base.v.severity;
  record.count = Math.max(sources.sdk, sources.reportUri, sources.reportTo);
  record.sources = sources;
  record.streamTimes = streamTimes;
  record.occurredAt = occurredAt;
  record.firstReceivedAt = firstReceivedAt;
  record.lastReceivedAt = lastReceivedAt;
  const policyHash = base.policyHash ?? sdk?.policyHash;
  if (policyHash !== undefined) record.policyHash = policyHash;
  if (base.v.userAgent !== undefined) record.userAgent = base.v.userAgent;
  const clientIp = base.v.clientIp ?? sdk?.v.clientIp;
  if (clientIp !== undefined) record.clientIp = clientIp;
  if (sdk) {
    // An SDK batch is anyone's to send: context from another client than the browser's own report
    // is shown as the SDK's claim, not as a fact about that report.
    if (native && sdk.v.clientIp && native.v.clientIp && sdk.v.clientIp !== native.v.clientIp) record.sdkClient = sdk.v.clientIp;
    if (sdk.v.page !== undefined) record.page = sdk.v.page;
    if (sdk.v.element !== undefined) record.element = sdk.v.element;
    if (sdk.v.noElement !== undefined) record.noElement = sdk.v.noElement;
    if (sdk.v.sinceLoad !== undefined) record.sinceLoad = sdk.v.sinceLoad;
    if (native) {
      // The SDK's report fields where a native report says otherwise (at most 11: a small object).
      let differing: Record<string, unknown> | undefined;
      for (const k of REPORT_FIELDS) {
        const value = sdk.v[k];
        if (value !== undefined && value !== fields[k]) (differing ??= {})[k] = value;
      }
      if (differing) record.sdkValues = differing as Partial<ReportFields>;
    }
  }
  return record;
}

/** `base`'s report fields, with those it does not know taken from the other parts (native ones first). */
function filled(base: Unit, parts: Unit[]): ReportFields {
  let out: ReportFields | undefined;
  const order = [...parts.filter((p) => p !== base && p.stream !== 'sdk'), ...parts.filter((p) => p.stream === 'sdk')];
  for (const k of REPORT_FIELDS) {
    if (!unknown(base.v[k])) continue;
    const from = order.find((p) => !unknown(p.v[k]));
    if (!from) continue;
    out ??= { ...base.v };
    (out as unknown as Record<string, unknown>)[k] = from.v[k];
  }
  return out ?? base.v;
}

const unknown = (value: unknown) => value === undefined || value === 'unknown';

/** Units a stored record was built from, so a restarted store can go on matching. */
export function unitsOf(r: ViolationRecord, nextSeq: () => number): Unit[] {
  const times = r.streamTimes ?? {};
  return (Object.keys(r.sources) as Stream[])
    .filter((s) => r.sources[s] > 0)
    .map((stream) => {
      const sdk = stream === 'sdk';
      const v: NormalizedViolation = {
        ...pick(r),
        ...(sdk ? r.sdkValues : undefined),
        stream,
        occurredAt: times[stream] ?? r.occurredAt,
        receivedAt: r.lastReceivedAt,
        count: r.sources[stream],
        category: r.category,
        severity: r.severity,
        userAgent: r.userAgent,
        clientIp: sdk ? (r.sdkClient ?? r.clientIp) : r.clientIp,
        ...(sdk ? { page: r.page, element: r.element, noElement: r.noElement, sinceLoad: r.sinceLoad } : {}),
      };
      // The SDK unit keeps the record's id so a rebuilt record has the same id as before.
      const seq = sdk || !r.sources.sdk ? seqOf(r.id) : nextSeq();
      return { seq, stream, at: v.occurredAt, count: v.count, firstReceivedAt: r.firstReceivedAt, lastReceivedAt: r.lastReceivedAt, v, policyHash: r.policyHash, key: exactKey(v), wide: isWildcard(v) };
    });
}

function pick(v: ReportFields): ReportFields {
  const out = {} as ReportFields;
  copyReportFields(out, v);
  return out;
}
