import type {
  Disposition,
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
  document?: string;
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
  /** Only groups with a live record on this document. */
  document?: string;
  since?: number;
  until?: number;
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
}

/**
 * The storage engine, which every store adapts (store/file, store/postgres). `append` resolves only
 * once everything it was given is durable (group commit: one write in flight, later appends share
 * the next one), with what it stored. Merge and grouping happen inside it, so an engine with a real
 * database can do them transactionally.
 */
export interface Store {
  append(batch: IngestBatch, filtered?: Record<string, number>): Promise<StoredViolation[]>;
  violations(query: ViolationQuery): Promise<ViolationPage>;
  groups(query: GroupQuery): Promise<GroupPage>;
  group(id: string): Promise<{ group: ViolationGroup; records: ViolationRecord[]; policy?: string } | undefined>;
  policy(hash: string): Promise<string | undefined>;
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
