// Stores that hold groups made by an older grouping rule (GROUPING_VERSION) are regrouped once, on
// open: each live record lands in the group the current rule gives it, and each old group's totals
// (which also count its archived records) go with it, so counts stay intact. Pure: the file store
// runs it on its live file, PostgreSQL (store/postgres/regroup.ts) on rows it loads and writes back.
import type { Category, GroupTriage, NormalizedViolation, ViolationGroup, ViolationRecord } from '@csp-lens/schema';
import { categorize, SCRIPT_OR_STYLE, severity } from './classify.js';
import { type GroupBook, type ReachSets, OVERFLOW_GROUP, groupIdOf, groupKey, mergeGroup, moveRecords, severityRank, touchGroup } from './group.js';

export interface Regrouped {
  groups: GroupBook['groups'];
  reach: GroupBook['reach'];
  /** Records whose group, category or severity changed (changed in place). */
  records: ViolationRecord[];
  /** Old groups that are gone (merged into another, or split). */
  removed: string[];
  /** Groups that are new or whose totals changed. */
  changed: string[];
  /** Where each old group that changed went (its remainder: everything but the records that left). */
  movedTo: Record<string, string>;
  /** Each new group: the old group whose regrouping made it (it takes that one's place in order). */
  madeFrom: Record<string, string>;
}

type Key = ReturnType<typeof groupKey>;

/** An old group's key under the current rule, from its own fields (for a group without live records). */
function keyOfGroup(g: ViolationGroup): { key: Key; category: Category } {
  // Its blocked value is an origin, keyword or scheme, or the category when the report had none.
  const none = g.blocked === g.category && (g.category === 'other' || g.category === 'self');
  const oldInline = (g.category === 'other' || g.category === 'self') && (none || g.blocked === 'self' || g.blocked === "'self'");
  const category: Category = oldInline && SCRIPT_OR_STYLE.test(g.effectiveDirective) ? 'inline' : g.category;
  const key = groupKey({ effectiveDirective: g.effectiveDirective, category, blockedURL: none ? undefined : g.blocked, sourceFile: g.sourceFile });
  return { key, category };
}

function emptyGroup(id: string, effectiveDirective: string, category: Category, key: Key): ViolationGroup {
  return {
    id, fingerprint: key.fingerprint, effectiveDirective, category, blocked: key.blocked,
    ...(key.sourceFile ? { sourceFile: key.sourceFile } : {}),
    severity: severity({ effectiveDirective, category }), dispositions: [], count: 0, records: 0,
    sources: { sdk: 0, reportUri: 0, reportTo: 0 }, merged: 0, firstSeen: Infinity, lastSeen: -Infinity,
    reach: { documents: 0, pageViews: 0, userAgents: 0 }, exampleId: '',
  };
}

const copyReach = (r: ReachSets | undefined): ReachSets =>
  r ? { documents: [...r.documents], pageViews: [...r.pageViews], userAgents: [...r.userAgents], nativeOnly: r.nativeOnly } : { documents: [], pageViews: [], userAgents: [], nativeOnly: 0 };

/**
 * Regroups `old` (groups and reach, in creation order) and its live `records` under the current
 * rule. An old group whose live records all land in one new group goes there whole; one whose
 * records split (an old group without the source file, now told apart by it) sends each record
 * that leaves with its share, and the rest (its archived records' share) goes where its example
 * record goes. The overflow group stays as it is. New groups take the place of the first old group
 * that went into them, and the triage state of the old groups they are made from (the latest
 * change); a group's first release is the earliest of what went into it.
 */
export function regroup(old: Pick<GroupBook, 'groups' | 'reach'>, records: Iterable<ViolationRecord>): Regrouped {
  const byGroup = new Map<string, { r: ViolationRecord; target: string; key: Key; category: Category }[]>();
  const changedRecords: ViolationRecord[] = [];
  for (const r of records) {
    const category = categorize(r.blockedURL, r.documentURL, r.effectiveDirective);
    const sev = severity({ effectiveDirective: r.effectiveDirective, category });
    if (category !== r.category || sev !== r.severity) {
      r.category = category;
      r.severity = sev;
      changedRecords.push(r);
    }
    const key = groupKey(r);
    const target = r.groupId === OVERFLOW_GROUP || !old.groups[r.groupId] ? r.groupId : groupIdOf(key.fingerprint);
    byGroup.get(r.groupId)?.push({ r, target, key, category }) ?? byGroup.set(r.groupId, [{ r, target, key, category }]);
  }

  const out: GroupBook = { groups: {}, reach: {}, minute: { at: 0, created: 0 } };
  const removed: string[] = [];
  const changed = new Set<string>();
  const movedTo: Record<string, string> = {};
  const madeFrom: Record<string, string> = {};
  let current = '';
  const ensure = (id: string, effectiveDirective: string, category: Category, key: Key) => {
    if (out.groups[id]) return;
    madeFrom[id] = current;
    out.groups[id] = emptyGroup(id, effectiveDirective, category, key);
    out.reach[id] = copyReach(undefined);
  };
  /**
   * A group this regrouping made (new, or an old id remade) takes the triage state of the old
   * groups it was made from: the one changed last where they differ. A group that existed and goes
   * on keeps its own, whatever joins it.
   */
  const inherit = (id: string, triage: GroupTriage | undefined) => {
    const g = out.groups[id];
    if (!triage || madeFrom[id] === undefined || (g.triage && g.triage.at >= triage.at)) return;
    g.triage = structuredClone(triage);
  };
  const changedSet = new Set(changedRecords);
  const assign = (r: ViolationRecord, to: string) => {
    if (r.groupId === to) return;
    r.groupId = to;
    if (!changedSet.has(r)) changedSet.add(r), changedRecords.push(r);
  };

  for (const g of Object.values(old.groups)) {
    const recs = byGroup.get(g.id) ?? [];
    if (g.id === OVERFLOW_GROUP || g.overflow) {
      out.groups[g.id] = g;
      out.reach[g.id] = old.reach[g.id] ?? copyReach(undefined);
      continue;
    }
    // Where the old group's remainder goes: with its example record, else its newest, else by its own fields.
    const anchor = recs.find((x) => x.r.id === g.exampleId) ?? recs[recs.length - 1];
    const own = anchor ? undefined : keyOfGroup(g);
    const target = anchor ? anchor.target : groupIdOf(own!.key.fingerprint);
    const leaving = recs.filter((x) => x.target !== target);
    if (target === g.id && !leaving.length && !out.groups[g.id]) {
      // Untouched: the same group, the same records.
      out.groups[g.id] = g;
      out.reach[g.id] = old.reach[g.id] ?? copyReach(undefined);
      continue;
    }
    current = g.id;
    movedTo[g.id] = target;
    const rest = { ...g, sources: { ...g.sources }, dispositions: [...g.dispositions] };
    const restReach = copyReach(old.reach[g.id]);
    const scratch: GroupBook = { groups: { [g.id]: rest }, reach: { [g.id]: restReach }, minute: { at: 0, created: 0 } };
    for (const x of leaving) moveRecords(scratch, g.id, [x.r], []);
    if (anchor) ensure(target, anchor.r.effectiveDirective, anchor.category, anchor.key);
    else ensure(target, g.effectiveDirective, own!.category, own!.key);
    mergeGroup(out, target, rest, restReach);
    inherit(target, g.triage);
    changed.add(target);
    for (const x of recs) assign(x.r, x.target);
    for (const x of leaving) {
      ensure(x.target, x.r.effectiveDirective, x.category, x.key);
      // A record has what touchGroup reads of a violation: times, severity, disposition, document, page, user agent.
      touchGroup(out, x.target, x.r as unknown as NormalizedViolation);
      // The latest time a record knows of: the first time of its latest stream.
      const g2 = out.groups[x.target];
      g2.lastSeen = Math.max(g2.lastSeen, ...Object.values(x.r.streamTimes ?? {}));
      moveRecords(out, x.target, [], [x.r]);
      inherit(x.target, g.triage);
      changed.add(x.target);
    }
    if (target !== g.id) removed.push(g.id);
  }
  for (const id of changed) {
    const g = out.groups[id];
    // A category the rule now names (inline, where it said other or self) rates as such.
    const rated = severity({ effectiveDirective: g.effectiveDirective, category: g.category });
    if (severityRank(rated) > severityRank(g.severity)) g.severity = rated;
  }
  // An old group that took others in keeps its id and is not removed; one split away entirely is.
  return { groups: out.groups, reach: out.reach, records: changedRecords, removed: removed.filter((id) => !out.groups[id]), changed: [...changed], movedTo, madeFrom };
}
