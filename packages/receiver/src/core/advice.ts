// Per group: the smallest change to the violated policy that would allow its violations, or why
// none should be made. `GET /api/groups/<id>` carries it as `advice` (http/policy-api.ts).
import type { CodeLocation, GroupAdvice, ViolationGroup, ViolationRecord } from '@csp-lens/schema';
import { commonPath, isSourceExpression, parseUrl } from './csp-source.js';
import { parsePolicy, targetFor, withSources } from './csp-policy.js';
import { suggest, type Suggestion } from './suggest.js';
import { judge, type Evidence } from './judge.js';
import { isCutToOrigin } from './url.js';

/** Past this many distinct hashes, the text changes per page view: hashes cannot keep up. */
export const MAX_HASHES = 5;
const MAX_LOCATIONS = 10;

export function adviseGroup(group: ViolationGroup, records: ViolationRecord[], policy: string | undefined, evidence: Evidence): GroupAdvice {
  const basedOn = { records: records.length, of: group.records };
  if (group.overflow) {
    return { verdict: 'investigate', summary: 'Nothing to add: this group holds the flood of distinct blocked hosts past the per-minute cap on new groups.', reasons: ['One client or a broken page produced more distinct violations than the cap allows a minute; look at the records, not at the policy.'], basedOn };
  }
  const { directives } = parsePolicy(policy);
  const all = records.map((r) => ({ r, s: suggest(r, directives) }));
  // Inline code: any record with a hash gives the source; the others (an older SDK, a native
  // report alone) add nothing but are counted.
  const hashed = all.filter((x) => x.s.kind === 'hash');
  const main = hashed.length ? hashed : mostCommon(all);
  const s = main[0]?.s ?? suggest(exampleOf(group), directives);
  let sources = s.sources;
  let kind = s.kind;
  const reasons = [s.reason];
  const warnings = [...s.warnings];
  let verdict = s.verdict;
  if (kind === 'hash') {
    const hashes = [...new Set(hashed.flatMap((x) => x.s.sources.filter((src) => src.startsWith("'sha")))).values()];
    if (hashes.length > MAX_HASHES) {
      verdict = 'fix-code';
      sources = [];
      reasons.push(`${hashes.length} different texts among ${hashed.length} records: the code changes between page views (data written into it), so hashes cannot keep up. Use a nonce, or move the data into a data attribute or JSON block.`);
    } else {
      sources = [...s.sources.filter((src) => !src.startsWith("'sha")), ...hashes];
      if (hashes.length > 1) reasons.push(`${hashes.length} different texts (one hash each).`);
    }
    const without = all.length - hashed.length;
    if (without) reasons.push(`${without} of ${all.length} records came without a hash (no SDK event, or an older SDK).`);
  } else if (kind === 'path') {
    const path = narrowPath(main.map((x) => x.r), s.origin!);
    sources = path === '/' ? [s.origin!] : [`${s.origin}${path}`];
    if (path === '/') kind = 'host';
  }
  const rejected = [s.rejected, ...sources.filter((src) => !isSourceExpression(src) && kind !== 'trusted-types')].filter(Boolean);
  if (rejected.length) {
    sources = [];
    verdict = 'investigate';
    reasons.push('What was blocked is no valid source expression (spaces, quotes, ";", ",", controls or a bad host): nothing to add.');
  }
  const judged = judge(verdict, main[0]?.s.risk, evidence);
  verdict = judged.verdict;
  reasons.push(...judged.reasons);
  const advice: GroupAdvice = { verdict, summary: '', reasons, basedOn };
  if (sources.length) {
    const t = targetFor(group.effectiveDirective, directives);
    advice.directive = t.directive;
    advice.add = sources;
    advice.kind = kind;
    if (t.created) {
      advice.from = { directive: t.from ?? '', sources: t.base };
      if (!policy) reasons.push('No policy text was reported for this group: the directive is shown alone.');
      else if (t.from) reasons.push(`${t.directive} is not in the policy, so ${t.from} applied: the new directive starts as a copy of it, so nothing else it allows changes.`);
    }
    advice.result = `${t.directive} ${withSources(t.base, sources).join(' ')}`;
  }
  if (warnings.length) advice.warnings = warnings;
  if (s.alternatives.length) advice.alternatives = s.alternatives;
  if (s.code) advice.locations = locations(records);
  advice.summary = summary(advice, s);
  return advice;
}

function summary(a: GroupAdvice, s: Suggestion): string {
  const add = a.add?.join(' ');
  const where = a.from ? `a new ${a.directive} directive (a copy of ${a.from.directive || 'nothing'} plus it)` : a.directive;
  if (a.verdict === 'allow') return `Add ${add} to ${where}.`;
  if (a.verdict === 'investigate') return add ? `Do not add ${add} yet: find out where it comes from first.` : s.reason;
  return s.reason.split(': ')[0] + ': fix the code, not the policy.';
}

/** The most frequent suggestion among the records (they share a group, so mostly one). */
function mostCommon<T extends { s: Suggestion }>(all: T[]): T[] {
  const by = new Map<string, T[]>();
  for (const x of all) {
    const key = `${x.s.verdict} ${x.s.kind} ${x.s.sources.join(' ')}`;
    by.set(key, [...(by.get(key) ?? []), x]);
  }
  return [...by.values()].sort((a, b) => b.length - a.length)[0] ?? [];
}

/** The narrowest path covering every record's URL on `origin`; a URL cut to its origin says nothing of the path (the SDK's element URL does). */
export function narrowPath(records: Pick<ViolationRecord, 'blockedURL' | 'element'>[], origin: string): string {
  let path: string | undefined;
  for (const r of records) {
    const url = r.blockedURL && isCutToOrigin(r.blockedURL) ? r.element?.url : r.blockedURL;
    const u = parseUrl(url);
    if (!u || u.origin !== origin) {
      if (r.blockedURL && isCutToOrigin(r.blockedURL)) return '/';
      continue;
    }
    path = path === undefined ? u.path : commonPath(path, u.path);
  }
  return path ?? '/';
}

function locations(records: ViolationRecord[]): CodeLocation[] {
  const by = new Map<string, CodeLocation>();
  for (const r of records) {
    if (!r.sourceFile) continue;
    const key = `${r.sourceFile} ${r.lineNumber ?? ''} ${r.columnNumber ?? ''}`;
    const at = by.get(key);
    if (at) at.count += r.count;
    else if (by.size < MAX_LOCATIONS) by.set(key, { file: r.sourceFile, line: r.lineNumber, column: r.columnNumber, count: r.count, ...(r.sample ? { sample: r.sample } : {}) });
  }
  return [...by.values()].sort((a, b) => b.count - a.count);
}

/** A group with no live record to look at: its own fields stand in for one. */
function exampleOf(g: ViolationGroup): ViolationRecord {
  return { effectiveDirective: g.effectiveDirective, category: g.category, blockedURL: g.blocked, documentURL: '', sourceFile: g.sourceFile } as ViolationRecord;
}
