import type { NormalizedViolation, PageContext, PolicyEntry, StoreLimits, ViolationGroup, ViolationRecord } from '@csp-lens/schema';
import type { IngestBatch, StoredViolation } from './types.js';
import type { Unit } from './merge.js';
import { bucketKey, unitKey, unitsOf } from './merge.js';
import { type Bucket, addUnit, freezeRecord, loadUnits, newBucket, rematch } from './bucket.js';
import { bump, storedTypeName } from './fields.js';
import { type GroupBook, GROUPING_VERSION, assignGroup, moveRecords, touchGroup } from './group.js';
import { regroup } from './regroup.js';
import { createWindow } from './window.js';
import { createPageTable, createPolicyTable, jsonBytes, pageKey, utf8 } from './tables.js';
import { type CoreOptions, coreOptions } from './options.js';
import { type Occurrence, type TriageChange, afterOccurrence, changedTriage, triageBytes } from './triage.js';

/** What triage needs of one violation: its times, and the release of its page (the record's, once merged). */
export const occurrence = (v: NormalizedViolation, r: ViolationRecord): Occurrence => {
  const release = r.page?.release ?? v.page?.release;
  return release === undefined ? { occurredAt: v.occurredAt, receivedAt: v.receivedAt } : { occurredAt: v.occurredAt, receivedAt: v.receivedAt, release };
};
import { type EraseFilter, type Tally, createTally, eraseMatcher, subtract } from './erase.js';
import { seqOf } from './records.js';

export { policyHash } from './tables.js';

/** What a store persists. Plain JSON: the file store writes it out; records stay newest-N. */
export interface StoreData {
  /** 2: page contexts in `pages`, referenced from records by key. 1 (still read): inline. */
  version: 1 | 2;
  /** The grouping rule the groups were made by (group.ts GROUPING_VERSION); absent: 1. */
  grouping?: number;
  seq: number;
  records: ViolationRecord[];
  groups: GroupBook['groups'];
  reach: GroupBook['reach'];
  minute: GroupBook['minute'];
  policies: Record<string, PolicyEntry>;
  pages?: Record<string, PageContext>;
  counters: Counters;
}

export interface Counters {
  filtered: Record<string, number>;
  otherReports: Record<string, number>;
  invalid: number;
  /** `invalid` per reason (added with the directive check; absent in older files). */
  invalidReasons?: Record<string, number>;
  sdkDropped: number;
  archived: number;
  limits?: StoreLimits;
}


export function emptyData(): StoreData {
  return {
    version: 2,
    grouping: GROUPING_VERSION,
    seq: 0,
    records: [],
    groups: {},
    reach: {},
    minute: { at: 0, created: 0 },
    policies: {},
    pages: {},
    counters: { filtered: {}, otherReports: {}, invalid: 0, sdkDropped: 0, archived: 0 },
  };
}

// A record's page context is stored once in the page table: its own size counts without it.
const NO_PAGE = {} as PageContext;
function recordBytes(r: ViolationRecord): number {
  const page = r.page;
  if (page) r.page = NO_PAGE;
  const n = jsonBytes(r) + (page ? 20 : 0);
  if (page) r.page = page;
  return n;
}

// A group's size: its strings (they never change), room for its counters, and the short hashes of
// its reach sets (11 characters each, quoted, comma). The same whatever the group's history.
const REACH_VALUE_BYTES = 14;
const reachValues = (book: GroupBook, gid: string) => {
  const r = book.reach[gid];
  return r.documents.length + r.pageViews.length + r.userAgents.length;
};

export type State = ReturnType<typeof createState>;

// A touched bucket's repeats, until it has one (most have none).
const NO_REPEATS: ReadonlySet<string | undefined> = new Set();

/** The in-memory heart of the store: merge and grouping over plain data, no I/O. */
export function createState(data: StoreData, options: CoreOptions = {}) {
  const opts = coreOptions(options);
  const records = createWindow();
  const buckets = new Map<string, Bucket>();
  // Each live record's bucket, and each bucket's key (the very string `buckets` was keyed with):
  // eviction finds them without building and hashing the key again.
  const bucketOf = new Map<string, Bucket>();
  const book: GroupBook = { groups: data.groups, reach: data.reach, minute: data.minute };
  const policies = createPolicyTable(data.policies);
  const pages = createPageTable(data.pages);
  const limits: StoreLimits = (data.counters.limits ??= {});
  const nextSeq = () => ++data.seq;
  // The non-CSP report types named so far (see storedTypeName).
  const otherTypes = {
    has: (type: string) => Object.hasOwn(data.counters.otherReports, type),
    get size() {
      return Object.keys(data.counters.otherReports).length;
    },
  };
  // Live records per group, and the groups without one, the longest without first.
  const live = new Map<string, number>();
  const dormant = new Map<string, true>();
  const groupBytes = new Map<string, number>();
  let groupTotal = 0;
  const sizeGroup = (gid: string) => {
    if (groupBytes.has(gid)) return;
    const g = book.groups[gid];
    const b = 420 + utf8(g.id) + utf8(g.fingerprint) + utf8(g.effectiveDirective) + utf8(g.blocked) + utf8(g.sourceFile ?? '');
    groupBytes.set(gid, b);
    groupTotal += b + REACH_VALUE_BYTES * reachValues(book, gid) + extraOf(g);
  };
  // What a group carries besides: its first release and triage state (both bounded), counted as
  // they change (`resize`).
  const extraOf = (g: ViolationGroup) => triageBytes(g.triage) + (g.firstRelease === undefined ? 0 : 40 + utf8(g.firstRelease));
  const resize = (g: ViolationGroup, before: number) => {
    if (groupBytes.has(g.id)) groupTotal += extraOf(g) - before;
  };

  const pageKeyOf = (p: PageContext) => pageKey(p).key;

  // What a live record holds on to: its policy, its page context, its group.
  function hold(r: ViolationRecord, n: 1 | -1): void {
    if (r.policyHash) policies.ref(r.policyHash, n);
    if (r.page) pages.ref(pageKeyOf(r.page), n);
    const count = (live.get(r.groupId) ?? 0) + n;
    live.set(r.groupId, count);
    if (count === 0) dormant.set(r.groupId, true);
    else dormant.delete(r.groupId);
  }

  function put(r: ViolationRecord): void {
    const old = records.get(r.id);
    if (old) hold(old, -1);
    records.set(r, recordBytes(r));
    hold(r, 1);
  }

  function drop(id: string): ViolationRecord | undefined {
    const r = records.delete(id);
    if (r) {
      hold(r, -1);
      bucketOf.delete(id);
    }
    return r;
  }

  if (data.version === 2) for (const r of data.records) if (typeof r.page === 'string') r.page = pages.byKey(r.page);
  // Groups made by an older rule: every live record to the group the current rule gives, each old
  // group's totals with it (regroup.ts). The store writes the result before taking anything new.
  let regrouped: { records: number; groupsBefore: number; groupsAfter: number } | undefined;
  if ((data.grouping ?? 1) < GROUPING_VERSION) {
    const groupsBefore = Object.keys(book.groups).length;
    const out = regroup(book, data.records);
    book.groups = data.groups = out.groups;
    book.reach = data.reach = out.reach;
    regrouped = { records: out.records.length, groupsBefore, groupsAfter: Object.keys(out.groups).length };
  }
  data.grouping = GROUPING_VERSION;
  for (const r of data.records) {
    // Version 1 kept each record's page context inline: one shared copy from here on.
    if (r.page) r.page = pages.add(r.page);
    sizeGroup(r.groupId);
    put(r);
    const key = bucketKey(r as unknown as NormalizedViolation);
    let bucket = buckets.get(key);
    if (!bucket) {
      buckets.set(key, (bucket = newBucket(r.groupId, key)));
    }
    bucketOf.set(r.id, bucket);
    loadUnits(bucket, unitsOf(r, nextSeq).map((u) => ({ ...u, rid: r.id })));
  }
  data.records = [];
  for (const g of Object.values(book.groups).sort((a, b) => a.lastSeen - b.lastSeen)) {
    sizeGroup(g.id);
    if (!live.get(g.id)) dormant.set(g.id, true);
  }

  const liveBytes = () => records.bytes + groupTotal + policies.bytes + pages.bytes;

  // A group let go (pruned or erased) takes its triage state with it: if its fingerprint comes back, it is a new group.
  function removeGroup(gid: string): void {
    dormant.delete(gid);
    live.delete(gid);
    groupTotal -= groupBytes.get(gid)! + REACH_VALUE_BYTES * reachValues(book, gid) + extraOf(book.groups[gid]);
    groupBytes.delete(gid);
    delete book.groups[gid];
    delete book.reach[gid];
  }

  function pruneGroup(gid: string): void {
    removeGroup(gid);
    limits.groupsPruned = (limits.groupsPruned ?? 0) + 1;
  }

  function evict(r: ViolationRecord): void {
    const bucket = bucketOf.get(r.id);
    drop(r.id);
    if (bucket) {
      freezeRecord(bucket, r.id);
      if (!bucket.units.length) buckets.delete(bucket.key!);
    }
  }

  /**
   * Adds a batch's violations to their buckets, then matches each touched bucket once. Returns the
   * policies they used, the unit of each (its `rid` is its record now), the records made, and the
   * groups created.
   */
  function add(violations: NormalizedViolation[]) {
    const touched = new Map<Bucket, { key: string; keys: Set<string>; repeats: Set<string | undefined> | undefined; newest: number }>();
    const usedPolicies = new Set<string>();
    const units: Unit[] = [];
    const made = new Map<string, ViolationRecord>();
    const created = new Set<string>();
    for (const v of violations) {
      let hash: string | undefined;
      if (v.originalPolicy) {
        const entry = policies.add(v.originalPolicy, v.receivedAt);
        hash = entry.hash;
        usedPolicies.add(hash);
        // The same text, one copy: the violation lives on in its bucket, and policies run to KBs.
        v.originalPolicy = entry.policy;
      }
      if (v.page) v.page = pages.add(v.page);
      const key = bucketKey(v);
      let bucket = buckets.get(key);
      if (!bucket) {
        const { gid, created: isNew } = assignGroup(book, v, v.receivedAt, opts.groupCapPerMinute);
        if (isNew) created.add(gid);
        sizeGroup(gid);
        if (!live.get(gid)) dormant.set(gid, true);
        buckets.set(key, (bucket = newBucket(gid, key)));
      }
      const { unit, repeat } = addUnit(bucket, v, hash, nextSeq);
      units.push(unit);
      let t = touched.get(bucket);
      if (!t) touched.set(bucket, (t = { key, keys: new Set(), repeats: undefined, newest: v.occurredAt }));
      t.keys.add(unitKey(unit));
      t.newest = Math.max(t.newest, v.occurredAt);
      if (repeat) (t.repeats ??= new Set()).add(unit.rid);
      const reachBefore = reachValues(book, bucket.groupId);
      const g = book.groups[bucket.groupId];
      const extraBefore = extraOf(g);
      touchGroup(book, bucket.groupId, v);
      resize(g, extraBefore);
      groupTotal += REACH_VALUE_BYTES * (reachValues(book, bucket.groupId) - reachBefore);
    }
    for (const [bucket, t] of touched) {
      const { before: ids, after, frozen } = rematch(bucket, t.keys, t.repeats ?? NO_REPEATS, t.newest, opts.mergeWindowMs);
      if (frozen) limits.frozenEarly = (limits.frozenEarly ?? 0) + frozen;
      const before = ids.map((id) => records.get(id)!);
      if (before.length) {
        const rebuilt = new Set(after.map((r) => r.id));
        for (const r of before) if (!rebuilt.has(r.id)) drop(r.id);
      }
      for (const r of after) {
        made.set(r.id, r);
        // A unit's own policy can outlive its table entry (pruned while another unit's policy
        // stood for their merged record): its text comes back with the record that needs it.
        if (r.policyHash && !policies.map.has(r.policyHash)) {
          const unit = bucket.units.find((u) => u.rid === r.id && u.policyHash === r.policyHash);
          if (unit?.v.originalPolicy) policies.add(unit.v.originalPolicy, unit.v.receivedAt).count--;
        }
        put(r);
        bucketOf.set(r.id, bucket);
      }
      moveRecords(book, bucket.groupId, before, after);
      if (!bucket.units.length) buckets.delete(t.key);
    }
    return { usedPolicies, units, made, created };
  }

  /** Keeps the live window within its bounds; returns the records that left it. */
  function bound(): ViolationRecord[] {
    const evicted: ViolationRecord[] = [];
    const freed = { policies: new Set<string>(), pages: new Set<string>() };
    const note = (r: ViolationRecord) => {
      if (r.policyHash) freed.policies.add(r.policyHash);
      if (r.page) freed.pages.add(pageKeyOf(r.page));
    };
    for (;;) {
      const overCount = records.size > opts.maxRecords;
      const overBytes = liveBytes() > opts.maxLiveBytes;
      // Groups without live records go first (the oldest), then records; a record's page context
      // and policy go with the last record that used them.
      if ((overBytes || dormant.size > opts.maxGroups) && dormant.size) {
        pruneGroup(dormant.keys().next().value!);
        continue;
      }
      if (!overCount && !overBytes) break;
      const r = records.victim(overCount ? 'count' : 'bytes')!;
      if (!overCount) limits.evictedForSpace = (limits.evictedForSpace ?? 0) + 1;
      evict(r);
      note(r);
      evicted.push(r);
      if (overBytes && !overCount) {
        // Their page context and policy count too: let them go as soon as nothing uses them.
        limits.policiesPruned = (limits.policiesPruned ?? 0) + policies.prune(freed.policies);
        pages.prune(freed.pages);
        freed.policies.clear();
        freed.pages.clear();
      }
    }
    limits.policiesPruned = (limits.policiesPruned ?? 0) + policies.prune(freed.policies);
    pages.prune(freed.pages);
    return evicted;
  }

  return {
    records,
    data,
    policies,
    /** Set when opening regrouped an older store (what changed), undefined otherwise. */
    regrouped,
    /**
     * Applies a batch in memory. Returns the records that fell out of the live window (for the
     * archive), and what was stored of each violation (for alerts and streams; not when `quiet`:
     * a replay at start).
     */
    ingest(batch: IngestBatch, filtered: Record<string, number> = {}, quiet = false): { evicted: ViolationRecord[]; stored: StoredViolation[] } {
      const c = data.counters;
      for (const [type, n] of Object.entries(batch.otherReports)) bump(c.otherReports, storedTypeName(otherTypes, type), n);
      for (const [rule, n] of Object.entries(filtered)) bump(c.filtered, rule, n);
      c.invalid += batch.invalid;
      for (const [reason, n] of Object.entries(batch.invalidReasons ?? {})) bump((c.invalidReasons ??= {}), reason, n);
      c.sdkDropped += batch.sdkDropped ?? 0;
      const { usedPolicies, units, made, created } = add(batch.violations);
      // Triage first (a replay too: it is part of what the journal rebuilds), then the groups as
      // this batch leaves them, copied (they change in place with the next one).
      const regressions = new Set<number>();
      batch.violations.forEach((v, i) => {
        const record = made.get(units[i]!.rid!)!;
        const g = book.groups[record.groupId];
        const next = g?.triage && afterOccurrence(g.triage, occurrence(v, record), g.count);
        if (!next) return;
        const before = extraOf(g);
        g.triage = next;
        resize(g, before);
        if (next.regression) regressions.add(i);
      });
      const groups = new Map<string, ViolationGroup>();
      const stored: StoredViolation[] = [];
      if (!quiet) {
        batch.violations.forEach((violation, i) => {
          const record = made.get(units[i]!.rid!)!;
          let group = groups.get(record.groupId);
          if (!group) groups.set(record.groupId, (group = { ...book.groups[record.groupId]!, sources: { ...book.groups[record.groupId]!.sources } }));
          stored.push({ violation, record, group, newGroup: created.has(record.groupId), ...(regressions.has(i) ? { regression: true } : {}) });
        });
      }
      const evicted = bound();
      // A policy whose every report was merged away or evicted in this very batch.
      limits.policiesPruned = (limits.policiesPruned ?? 0) + policies.prune(usedPolicies);
      c.archived += evicted.length;
      return { evicted, stored };
    },
    /**
     * A change of a group's triage state (from the API, or its journal line on replay): the group as
     * it stands after, or undefined when there is no such group (then nothing changes).
     */
    setTriage(id: string, change: TriageChange): ViolationGroup | undefined {
      const g = Object.hasOwn(book.groups, id) ? book.groups[id] : undefined;
      if (!g) return undefined;
      const before = extraOf(g);
      g.triage = changedTriage(change, g.count);
      resize(g, before);
      // A copy: the caller answers with it after the commit, when the next one may change the group.
      return structuredClone(g);
    },
    /**
     * Erasure: the live records `filter` selects go, with their units (nothing merges into them
     * again), and their groups' totals lose them and the archived records `archived` sums (the store
     * reads its archive). A group left without any record goes, and so does the one a filter names
     * alone once none of its records is live. Returns the live records removed.
     */
    erase(filter: EraseFilter, archived: Tally = createTally()): number {
      const match = eraseMatcher(filter);
      const gone = [...records.values()].filter(match);
      const tally = createTally();
      const freed = { policies: new Set<string>(), pages: new Set<string>() };
      for (const r of gone) {
        evict(r);
        tally.add(r);
        if (r.policyHash) freed.policies.add(r.policyHash);
        if (r.page) freed.pages.add(pageKeyOf(r.page));
      }
      const touched = new Set([...tally.deltas.keys(), ...archived.deltas.keys()]);
      if (filter.groupId !== undefined) touched.add(filter.groupId);
      for (const t of [tally, archived]) {
        for (const [gid, d] of t.deltas) if (Object.hasOwn(book.groups, gid)) subtract(book.groups[gid], book.reach[gid], d);
      }
      const alone = Object.keys(filter).length === 1 && filter.groupId !== undefined;
      const examples = new Map<string, string>();
      for (const gid of touched) {
        const g = Object.hasOwn(book.groups, gid) ? book.groups[gid] : undefined;
        if (!g) continue;
        if (!live.get(gid) && (alone || g.records <= 0)) removeGroup(gid);
        else if (!records.has(g.exampleId)) examples.set(gid, '');
      }
      // An erased example gives way to the group's newest live record.
      if (examples.size) {
        for (const r of records.values()) {
          const had = examples.get(r.groupId);
          if (had !== undefined && (!had || seqOf(r.id) > seqOf(had))) examples.set(r.groupId, r.id);
        }
        for (const [gid, id] of examples) book.groups[gid].exampleId = id;
      }
      policies.prune(freed.policies);
      pages.prune(freed.pages);
      data.counters.archived = Math.max(0, data.counters.archived - archived.records);
      return gone.length;
    },
    /** The bytes of live content now, and where the bounds are. */
    limits(): StoreLimits {
      return { ...limits, liveBytes: liveBytes(), maxLiveBytes: opts.maxLiveBytes, maxRecords: opts.maxRecords, maxGroups: opts.maxGroups };
    },
    /** The persisted form, records in insertion order (page contexts by reference, see livefile.ts). */
    snapshot(): StoreData {
      return { ...data, version: 2, minute: book.minute, policies: policies.toJSON(), pages: pages.toJSON(), records: [...records.values()] };
    },
  };
}
