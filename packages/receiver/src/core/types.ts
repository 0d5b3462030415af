import type { StatusFilter, TriageChange } from './triage.js';
import type { SeverityOverrides } from './severity.js';
import type {
  Disposition,
  GroupBreakdown,
  GroupPage,
  NormalizedViolation,
  Stats,
  ViolationGroup,
  ViolationPage,
  ViolationRecord,
} from '@csp-lens/schema';
import type { EraseFilter, EraseResult } from './erase.js';

export type { EraseFilter, EraseResult } from './erase.js';

/** What the HTTP layer knows about a request, passed down to normalization. */
export interface RequestMeta {
  /** Server clock, ms. */
  receivedAt: number;
  userAgent?: string;
  /** Already truncated or hashed (see ip.ts). */
  clientIp?: string;
}

/** Result of normalizing one request body. */
export interface IngestBatch {
  violations: NormalizedViolation[];
  /** Non-CSP reports in a report-to batch, counted per type (deprecation, intervention, …). */
  otherReports: Record<string, number>;
  /** Items of a batch that were not a usable report (skipped; the rest of the batch is kept). */
  invalid: number;
  /** The same, per reason (`no-document`, `unknown-directive`, `not-a-report`, …). */
  invalidReasons?: Record<string, number>;
  /** SDK: distinct violations the page dropped over its cap. */
  sdkDropped?: number;
}

/** Returns the rule name that drops a violation as noise, or undefined to keep it. */
export type NoiseFilter = (v: NormalizedViolation) => string | undefined;

/** Which records a read is about: `/api/violations` pages them, `/api/stats` counts them. */
export interface RecordFilter {
  directive?: string;
  /** Only records this stream contributed to. */
  source?: 'sdk' | 'reportUri' | 'reportTo';
  /** merged: seen on the SDK and a native stream; sdk-only; native-only. */
  coverage?: CoverageKind;
  groupId?: string;
  /** A prefix of the document URL, of its path (`/checkout`), or of the URL without scheme; query and fragment ignored (core/match.ts). */
  document?: string;
  /** Blocked URL, document URL or source file contains this, in any case (at most 200 characters). */
  q?: string;
  disposition?: Disposition;
  severity?: string;
  since?: number;
  until?: number;
}

export type CoverageKind = 'merged' | 'sdk-only' | 'native-only';

export interface ViolationQuery extends RecordFilter {
  limit?: number;
  cursor?: string;
}

export interface GroupQuery {
  sort?: 'lastSeen' | 'count' | 'reach' | 'severity';
  directive?: string;
  severity?: string;
  disposition?: Disposition;
  /** merged: seen on the SDK and a native stream; sdk-only; native-only. */
  coverage?: CoverageKind;
  /** Only groups with a live record on this document (a prefix, as RecordFilter.document). */
  document?: string;
  /** Only groups with a live record this search matches (as RecordFilter.q). */
  q?: string;
  since?: number;
  until?: number;
  /** Triage: one status, `regression`, or `all`; unset: every group but the ignored ones. */
  status?: StatusFilter;
  /** Only groups first seen at or after this time (ms). */
  newSince?: number;
  /** Only groups new in this release: their first occurrence came from it (ViolationGroup.firstRelease). */
  release?: string;
  /** The time an "ignore until" is read against (default: now). */
  now?: number;
  limit?: number;
  cursor?: string;
}

/** What an append stored of one violation: the record it is part of now, and that record's group. */
export interface StoredViolation {
  violation: NormalizedViolation;
  /** As the append left it (a record may change again when a later report joins it). */
  record: ViolationRecord;
  group: ViolationGroup;
  /** The append created the group. */
  newGroup: boolean;
  /** This violation reopened its resolved group: a regression (the group's `triage` says more). */
  regression?: boolean;
}

export interface AppendOptions {
  /**
   * Called once the batch is durable, which may be before it is merged: the file store's journal
   * holds the normalized batch, and a crash replays it to the same records. A receiver may
   * acknowledge then. Reads still see only acknowledged data (they wait for the merge).
   */
  onDurable?: () => void;
}

/**
 * The storage engine, which every store adapts (store/file, store/postgres). `append` resolves only
 * once everything it was given is durable and merged (group commit: one write in flight, later
 * appends share the next one), with what it stored; `onDurable` may come first. Merge and grouping
 * happen inside it, so an engine with a real database can do them transactionally.
 */
export interface Store {
  append(batch: IngestBatch, filtered?: Record<string, number>, options?: AppendOptions): Promise<StoredViolation[]>;
  violations(query: ViolationQuery): Promise<ViolationPage>;
  groups(query: GroupQuery): Promise<GroupPage>;
  group(id: string): Promise<{ group: ViolationGroup; records: ViolationRecord[]; policy?: string } | undefined>;
  policy(hash: string): Promise<string | undefined>;
  /** Sets a group's triage state (durably, like an append); undefined: no such group. */
  setGroupState(id: string, change: TriageChange): Promise<ViolationGroup | undefined>;
  /** The group's live records counted by document, browser, release, stream, disposition; undefined: no such group. */
  breakdown(id: string): Promise<GroupBreakdown | undefined>;
  /** The severity rules of this store's CoreOptions (the read API explains severities with them). */
  readonly severityRules?: SeverityOverrides;
  /** Counts over the live records the filter selects; `groups` and the counters are store-wide. */
  stats(query: RecordFilter): Promise<Stats>;
  /**
   * Erasure (privacy requests, test noise): removes the records `filter` selects from the live
   * store and the archive, and their share of their groups' totals. It goes through the group
   * commit (never beside an append) and resolves once durable, after an audit entry naming `by`.
   */
  erase(filter: EraseFilter, audit?: { by?: string }): Promise<EraseResult>;
  /** Flush what is pending and release the file (lock). */
  close(): Promise<void>;
}
