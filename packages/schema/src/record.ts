import type { NoElementReason, SdkElement, SdkPage } from './wire.js';

export type Stream = 'sdk' | 'reportUri' | 'reportTo';
export type Disposition = 'enforce' | 'report';
export type Severity = 'critical' | 'high' | 'medium' | 'low';

/**
 * What was blocked, by kind. `external` is a URL of another origin than the document, `self` one of
 * the same origin; the keyword kinds follow the blocked-uri keywords of CSP3 §5.
 */
export type Category =
  | 'inline'
  | 'eval'
  | 'wasm-eval'
  | 'trusted-types'
  | 'external'
  | 'self'
  | 'data'
  | 'blob'
  | 'extension'
  | 'other';

export type StreamCounts = Record<Stream, number>;

/** The report fields every stream can carry, normalized to CSP3 camelCase; absent = unknown. */
export interface ReportFields {
  /** Document URL without its fragment. */
  documentURL: string;
  referrer?: string;
  /** URL (fragment dropped) or keyword (`inline`, `eval`, …); absent when the browser sent `""`. */
  blockedURL?: string;
  effectiveDirective: string;
  violatedDirective?: string;
  disposition: Disposition;
  sourceFile?: string;
  lineNumber?: number;
  columnNumber?: number;
  sample?: string;
  statusCode?: number;
}

/** Page-view context only the SDK knows: the batch's page minus its policy list. */
export type PageContext = Omit<SdkPage, 'policies'>;

/** One report from one stream after parsing and normalization: the input of merge. */
export interface NormalizedViolation extends ReportFields {
  stream: Stream;
  /** Server clock (ms): when the violation happened, all streams on one clock (DESIGN §4). */
  occurredAt: number;
  /** Server clock (ms) of reception. */
  receivedAt: number;
  /** Occurrences this report stands for (SDK dedupes; a native report is one). */
  count: number;
  originalPolicy?: string;
  userAgent?: string;
  clientIp?: string;
  category: Category;
  severity: Severity;
  page?: PageContext;
  element?: SdkElement;
  noElement?: NoElementReason;
  /** ms since navigation start (SDK). */
  sinceLoad?: number;
}

/** One distinct violation seen in one page view: everything the streams said about it, merged. */
export interface ViolationRecord extends ReportFields {
  id: string;
  groupId: string;
  category: Category;
  severity: Severity;
  /** Occurrences: the largest of the SDK count and the native reports (they describe the same ones). */
  count: number;
  sources: StreamCounts;
  /** When each stream says it happened (server clock); `occurredAt` is the earliest. */
  streamTimes?: Partial<Record<Stream, number>>;
  occurredAt: number;
  firstReceivedAt: number;
  lastReceivedAt: number;
  /** Key of the violated policy in the policy table. */
  policyHash?: string;
  userAgent?: string;
  clientIp?: string;
  page?: PageContext;
  element?: SdkElement;
  noElement?: NoElementReason;
  sinceLoad?: number;
  /** Report fields on which the SDK disagreed with the native report (native wins in the record). */
  sdkValues?: Partial<ReportFields>;
}

export interface GroupReach {
  documents: number;
  pageViews: number;
  userAgents: number;
}

/** An issue: records that share a fingerprint (DESIGN §4). */
export interface ViolationGroup {
  id: string;
  fingerprint: string;
  effectiveDirective: string;
  category: Category;
  /** Blocked origin, keyword or scheme; `overflow` for the group that absorbs the over-cap flood. */
  blocked: string;
  sourceFile?: string;
  severity: Severity;
  dispositions: Disposition[];
  count: number;
  records: number;
  sources: StreamCounts;
  /** Records that more than one stream contributed to. */
  merged: number;
  firstSeen: number;
  lastSeen: number;
  reach: GroupReach;
  exampleId: string;
  overflow?: boolean;
}

export interface PolicyEntry {
  hash: string;
  policy: string;
  firstSeen: number;
  count: number;
}

/** Response of `GET {prefix}/api/violations`. */
export interface ViolationPage {
  items: ViolationRecord[];
  next?: string;
}

export interface GroupPage {
  items: ViolationGroup[];
  next?: string;
}

export interface HourBucket {
  hour: number;
  total: number;
  bySeverity: Record<Severity, number>;
}

export interface Coverage {
  merged: number;
  sdkOnly: number;
  nativeOnly: number;
}

/** Response of `GET {prefix}/api/stats`. */
export interface Stats {
  records: number;
  archived: number;
  groups: number;
  hours: HourBucket[];
  coverage: Coverage & { byDirective: Record<string, Coverage> };
  /** Reports dropped by the noise filter, per rule. */
  filtered: Record<string, number>;
  /** Non-CSP reports seen in report-to batches, per type (deprecation, intervention, …); 100 types at most, the rest as `other-types`. */
  otherReports: Record<string, number>;
  /** Items of accepted batches that were no usable report (skipped and counted, never a 400 for the batch). */
  invalid: number;
  /** Violations the SDK saw but did not send: past its `maxEvents` per page view. */
  sdkDropped: number;
  /**
   * What the store deleted to stay bounded, since it was created: policies no live record names
   * any more, and groups without a live record past the store's maximum number of groups.
   */
  limits?: { policiesPruned?: number; groupsPruned?: number };
}
