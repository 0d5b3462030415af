import type { NoElementReason, SdkElement, SdkPage } from './wire.js';

export type Stream = 'sdk' | 'reportUri' | 'reportTo';
/**
 * `unknown`: the report did not say (WebKit's report-uri never does, nor CSP2 browsers) and neither
 * an SDK event of the same violation nor another report of its policy told.
 */
export type Disposition = 'enforce' | 'report' | 'unknown';
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
  /**
   * The client the SDK context came from, when it is not the client of the native report it was
   * merged with: anyone can send an SDK batch, so `page`, `element` and `sdkValues` are then the
   * SDK's claim, not facts about the browser that reported.
   */
  sdkClient?: string;
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
  /**
   * The release (the SDK's `release`) of the earliest violation of this group that carried one, and
   * when that violation happened. The group is "new in" that release when this is within a minute
   * of `firstSeen` (see `GroupQuery.release`).
   */
  firstRelease?: string;
  firstReleaseAt?: number;
  /** Where the group stands in triage; absent: open, never triaged. */
  triage?: GroupTriage;
}

export type TriageStatus = 'open' | 'resolved' | 'ignored';

/**
 * A group's triage state, changed only through `POST {prefix}/api/groups/<id>/state` and by the
 * store itself: a resolved group that recurs reopens as a regression, an "ignore until N more"
 * reopens at its count. `by` and `note` are free text as the caller sent them (cleaned, bounded).
 */
export interface GroupTriage {
  status: TriageStatus;
  /** Server clock (ms) of the change. */
  at: number;
  by?: string;
  note?: string;
  /** resolved: the newest release that still has the problem; records from it or an older one do not reopen the group. */
  release?: string;
  /** ignored: until this time (ms); then it reads as open again. */
  until?: number;
  /** ignored: until the group's occurrence count reaches this (`occurrences` more than when ignored). */
  untilCount?: number;
  occurrences?: number;
  /** The store reopened the group: why, when, and the state it left. */
  reopened?: {
    reason: 'regression' | 'ignore-expired' | 'ignore-count';
    at: number;
    /** regression: the release of the record that came back (absent: it carried none). */
    release?: string;
    previous: Omit<GroupTriage, 'reopened' | 'regression'>;
  };
  /** A resolved group came back (`reopened.reason` is `regression`), until the state is changed again. */
  regression?: true;
}

/** A count in a group's breakdown: `records` live records, `count` occurrences. */
export interface BreakdownEntry {
  value: string;
  records: number;
  count: number;
}

/** Response of `GET {prefix}/api/groups/<id>/breakdown`: the group's live records, counted by dimension. */
export interface GroupBreakdown {
  /** Live records counted (older ones are in the archive). */
  records: number;
  count: number;
  /** Each dimension's largest entries (at most `top`), and what the rest add up to. */
  documents: BreakdownEntry[];
  browsers: BreakdownEntry[];
  releases: BreakdownEntry[];
  streams: BreakdownEntry[];
  dispositions: BreakdownEntry[];
  /** Per dimension: entries past the top, summed (absent: none). */
  rest: Partial<Record<'documents' | 'browsers' | 'releases', { values: number; records: number; count: number }>>;
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
  /**
   * `invalid` per reason: `no-document`, `no-directive`, `unknown-directive` (a word that is no CSP
   * directive), `not-a-report`, `not-an-event`. Counted since the reasons were added.
   */
  invalidReasons?: Record<string, number>;
  /** Violations the SDK saw but did not send: past its `maxEvents` per page view. */
  sdkDropped: number;
  /** What the store let go of to stay within its bounds, and the bounds (store-wide). */
  limits?: StoreLimits;
}

/**
 * The bounds a store keeps whatever arrives, and what it did at them. Counts are store-wide and
 * survive restarts; a field a store does not track is absent.
 */
export interface StoreLimits {
  /** Records moved to the archive before `maxRecords` was reached because the live bytes budget was full. */
  evictedForSpace?: number;
  /** Groups without a live record let go (past `maxGroups`, or for space); their records are in the archive. */
  groupsPruned?: number;
  /** Policy texts let go with the last live record that used them. */
  policiesPruned?: number;
  /** Records made final (no more merging) early because their bucket reached its size bound. */
  frozenEarly?: number;
  /** UTF-8 bytes of live content now (records, groups, policies, page contexts), and its budget. */
  liveBytes?: number;
  maxLiveBytes?: number;
  maxRecords?: number;
  maxGroups?: number;

}
