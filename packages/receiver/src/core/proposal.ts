// The policy builder: from the records of a time range that violated one policy, the sources to add
// per directive, each with its count, reach and first/last seen. Records are fed one at a time (the
// HTTP layer pages them from the store), and everything kept is bounded: sources tracked, distinct
// documents and clients per source, documents remembered for the evidence.
import type { PolicyProposal, ProposalNote, ProposedDirective, ProposedSource, ViolationRecord } from '@csp-lens/schema';
import { isSourceExpression } from './csp-source.js';
import { parsePolicy, targetFor, type Target } from './csp-policy.js';
import { suggest, type Risk, type Suggestion } from './suggest.js';
import { clientOf, judge, pageEvidence, SETTLE_MS } from './judge.js';
import { narrowPath } from './advice.js';

/** Sources shown per directive; the rest are counted as `truncated`. */
export const MAX_SOURCES = 50;
/** Sources tracked in all while reading (each holds bounded sets): the rest only counted. */
const MAX_TRACKED = 2000;
/** Distinct documents and clients counted per source (reach beyond is "at least"). */
export const REACH_LIMIT = 100;
const MAX_DOCS = 5000;
const MAX_NOTES = 50;
const MAX_EXAMPLES = 5;

interface Entry {
  target: Target;
  source: string;
  requires: Set<string>;
  s: Suggestion;
  risk?: Risk;
  count: number;
  records: number;
  documents: Set<string>;
  clients: Set<string>;
  firstSeen: number;
  lastSeen: number;
  groups: Set<string>;
  /** Path sources: the records' URLs, to narrow the path (bounded like the reach). */
  urls: Pick<ViolationRecord, 'blockedURL' | 'element'>[];
  /** Inline script: its records' releases and a few of them, for the evidence. */
  seen: Pick<ViolationRecord, 'page' | 'documentURL' | 'occurredAt'>[];
}

export function createProposal(basePolicy: string | undefined) {
  const { directives, rejected: badBase } = parsePolicy(basePolicy);
  const entries = new Map<string, Entry>();
  const untracked = new Map<string, number>();
  const notes = new Map<string, ProposalNote>();
  // The first record seen per document (any directive): when and under which release.
  const docs = new Map<string, { first: number; release?: string }>();
  const rejected = { count: badBase.length, examples: badBase.slice(0, MAX_EXAMPLES).map((t) => JSON.stringify(t.slice(0, 100))) };
  const reject = (what: string) => {
    rejected.count++;
    if (rejected.examples.length < MAX_EXAMPLES) rejected.examples.push(JSON.stringify(what.slice(0, 100)));
  };

  function add(r: ViolationRecord): void {
    const d = docs.get(r.documentURL);
    if (d) d.first = Math.min(d.first, r.occurredAt);
    else if (docs.size < MAX_DOCS) docs.set(r.documentURL, { first: r.occurredAt, release: r.page?.release });
    const s = suggest(r, directives);
    if (s.rejected !== undefined) reject(s.rejected);
    if (!s.sources.length) return note(r, s);
    const target = targetFor(r.effectiveDirective, directives);
    const requires = s.sources.filter((x) => x === "'unsafe-hashes'");
    const source = s.kind === 'path' ? `path:${s.origin}` : s.sources.filter((x) => x !== "'unsafe-hashes'").join(' ');
    const key = `${target.directive} ${source}`;
    let e = entries.get(key);
    if (!e) {
      if (entries.size >= MAX_TRACKED) return void untracked.set(target.directive, (untracked.get(target.directive) ?? 0) + 1);
      e = { target, source, requires: new Set(), s, count: 0, records: 0, documents: new Set(), clients: new Set(), firstSeen: r.occurredAt, lastSeen: r.occurredAt, groups: new Set(), urls: [], seen: [] };
      entries.set(key, e);
    }
    for (const x of requires) e.requires.add(x);
    e.count += r.count;
    e.records++;
    e.firstSeen = Math.min(e.firstSeen, r.occurredAt);
    e.lastSeen = Math.max(e.lastSeen, r.occurredAt);
    if (e.documents.size < REACH_LIMIT) e.documents.add(r.documentURL);
    const client = clientOf(r);
    if (client !== undefined && e.clients.size < REACH_LIMIT) e.clients.add(client);
    if (e.groups.size < 5) e.groups.add(r.groupId);
    if (s.kind === 'path' && e.urls.length < REACH_LIMIT) e.urls.push({ blockedURL: r.blockedURL, element: r.element });
    if (s.risk === 'inline-script' && e.seen.length < REACH_LIMIT) e.seen.push({ page: r.page, documentURL: r.documentURL, occurredAt: r.occurredAt });
  }

  function note(r: ViolationRecord, s: Suggestion): void {
    const key = `${r.effectiveDirective} ${s.verdict} ${s.reason}`;
    let n = notes.get(key);
    if (!n) {
      if (notes.size >= MAX_NOTES) return;
      notes.set(key, (n = { directive: r.effectiveDirective, verdict: s.verdict, summary: s.reason, records: 0, count: 0, groups: [], ...(s.code ? { locations: [] } : {}) }));
    }
    n.records++;
    n.count += r.count;
    if (n.groups.length < 5 && !n.groups.includes(r.groupId)) n.groups.push(r.groupId);
    const at = n.locations?.find((l) => l.file === r.sourceFile && l.line === r.lineNumber && l.column === r.columnNumber);
    if (at) at.count += r.count;
    else if (n.locations && r.sourceFile && n.locations.length < 10) n.locations.push({ file: r.sourceFile, line: r.lineNumber, column: r.columnNumber, count: r.count, ...(r.sample ? { sample: r.sample } : {}) });
  }

  function finish(): Pick<PolicyProposal, 'directives' | 'notes' | 'rejected'> {
    const byDirective = new Map<string, ProposedDirective>();
    for (const e of entries.values()) {
      const source = e.s.kind === 'path' ? pathSource(e) : e.source;
      if (!source.split(' ').every(isSourceExpression) && e.s.kind !== 'trusted-types') {
        reject(source);
        continue;
      }
      const first = e.seen.length ? earliest(e.seen) : undefined;
      const earlier = first && docs.get(first.documentURL);
      const evidence = {
        clients: e.clients.size,
        ...(earlier && earlier.first < e.firstSeen - SETTLE_MS
          ? pageEvidence(e.seen, { documentURL: first.documentURL, occurredAt: earlier.first, page: earlier.release ? { id: '', release: earlier.release } : undefined })
          : {}),
      };
      const j = judge(e.s.verdict, e.s.risk, evidence);
      const p: ProposedSource = {
        source,
        kind: source === e.s.origin ? 'host' : e.s.kind!,
        verdict: j.verdict,
        selected: j.verdict === 'allow',
        reason: [e.s.reason, ...j.reasons].join(' '),
        count: e.count,
        records: e.records,
        documents: e.documents.size,
        clients: e.clients.size,
        firstSeen: e.firstSeen,
        lastSeen: e.lastSeen,
        groups: [...e.groups],
      };
      if (e.requires.size) p.requires = [...e.requires];
      if (e.s.warnings.length) p.warnings = e.s.warnings;
      let d = byDirective.get(e.target.directive);
      if (!d) {
        const t = e.target;
        byDirective.set(t.directive, (d = { name: t.directive, base: t.base, sources: [], ...(t.created ? { created: true, ...(t.from ? { from: t.from } : {}) } : {}) }));
      }
      d.sources.push(p);
    }
    for (const [name, n] of untracked) {
      const d = byDirective.get(name);
      if (d) d.truncated = (d.truncated ?? 0) + n;
    }
    for (const d of byDirective.values()) {
      d.sources.sort((a, b) => b.count - a.count || a.source.localeCompare(b.source));
      if (d.sources.length > MAX_SOURCES) {
        d.truncated = (d.truncated ?? 0) + d.sources.length - MAX_SOURCES;
        d.sources.length = MAX_SOURCES;
      }
    }
    // In the policy's order; created directives after, by name.
    const order = [...directives.keys()];
    const rank = (d: ProposedDirective) => (d.created ? order.length : order.indexOf(d.name));
    const sorted = [...byDirective.values()].sort((a, b) => rank(a) - rank(b) || (a.name < b.name ? -1 : 1));
    return { directives: sorted, notes: [...notes.values()].sort((a, b) => b.count - a.count), rejected };
  }

  return { add, finish };
}

function pathSource(e: Entry): string {
  const path = narrowPath(e.urls, e.s.origin!);
  return path === '/' ? e.s.origin! : `${e.s.origin}${path}`;
}

const earliest = <T extends { occurredAt: number }>(xs: T[]): T => xs.reduce((a, b) => (b.occurredAt < a.occurredAt ? b : a));
