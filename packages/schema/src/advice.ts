// What the receiver proposes to change in a policy: per group (`GET /api/groups/<id>`, `advice`) and
// for a time range (`GET /api/policy/proposal`). Every source in here came from a report, i.e. from
// whoever can post to the receiver: each was checked against the CSP source grammar first.

/**
 * `allow`: the change below is the fix. `investigate`: it would allow it, but this looks like an
 * attack (or a browser extension, or too little is known): look before adding anything.
 * `fix-code`: no policy change is right (eval, a handler without a hash): the page's code changes.
 */
export type Verdict = 'allow' | 'investigate' | 'fix-code';

/** How a source was derived from what was blocked. */
export type SourceKind =
  | 'host'
  | 'path'
  | 'self'
  | 'scheme'
  | 'hash'
  | 'keyword'
  | 'trusted-types'
  | 'frame-ancestor';

/** A place in the page's code, from the reports (eval and inline code). */
export interface CodeLocation {
  file: string;
  line?: number;
  column?: number;
  /** Occurrences there, among the records looked at. */
  count: number;
  /** The report's sample of the code, when the policy asks for `'report-sample'`. */
  sample?: string;
}

export interface GroupAdvice {
  verdict: Verdict;
  /** One sentence: what to do. */
  summary: string;
  /** The directive to edit; it may not exist yet (then `from` says what it starts from). */
  directive?: string;
  /** Sources to add to it, in policy syntax (`https://cdn.example`, `'sha256-…'`). */
  add?: string[];
  kind?: SourceKind;
  /** The directive does not exist: it starts as a copy of the one that governs today. */
  from?: { directive: string; sources: string[] };
  /** The edited directive, whole: what goes into the policy. */
  result?: string;
  /** Why: the facts the verdict rests on. */
  reasons: string[];
  warnings?: string[];
  /** Other fixes, best first. */
  alternatives?: string[];
  /** Where the code is (eval, inline code without a hash). */
  locations?: CodeLocation[];
  /** Records the advice looked at (the group's most recent), of `records` in the group. */
  basedOn: { records: number; of: number };
}

/** One source the builder would add to a directive, with what supports it. */
export interface ProposedSource {
  source: string;
  /** Sources that must come with it (`'unsafe-hashes'` for an attribute's hash). */
  requires?: string[];
  kind: SourceKind;
  verdict: Verdict;
  /** Ticked by default: `allow` sources only. */
  selected: boolean;
  reason: string;
  warnings?: string[];
  /** Occurrences, records, and distinct documents and clients (capped at `REACH_LIMIT`, then `+`). */
  count: number;
  records: number;
  documents: number;
  clients: number;
  firstSeen: number;
  lastSeen: number;
  /** Groups these records belong to (a few), to open the group view. */
  groups: string[];
}

export interface ProposedDirective {
  name: string;
  /** Not in the violated policy: created as a copy of `from`'s sources. */
  created?: boolean;
  from?: string;
  /** The sources it has today (or copies). */
  base: string[];
  /** What the reports ask to add, most occurrences first. */
  sources: ProposedSource[];
  /** Sources left out of `sources` past the cap (fewest occurrences first). */
  truncated?: number;
}

/** Something no source fixes (eval, trusted-types sinks, inline code without a hash). */
export interface ProposalNote {
  directive: string;
  verdict: Verdict;
  summary: string;
  records: number;
  count: number;
  locations?: CodeLocation[];
  groups: string[];
}

export interface PolicyProposal {
  from?: number;
  to?: number;
  disposition: 'report' | 'all';
  /** The policy the proposal starts from (the most recent one violated in the range). */
  base?: { hash: string; policy: string };
  /** Other policies violated in the range, with their record counts (use `policy=<hash>`). */
  otherPolicies: { hash: string; records: number }[];
  /** Records read, and whether the scan stopped at its cap before the end of the range. */
  scanned: number;
  scanCapped?: boolean;
  directives: ProposedDirective[];
  notes: ProposalNote[];
  /**
   * Sources a report asked for that are no valid source expression (spaces, quotes, `;`, `,`,
   * controls, a bad host): never emitted. `examples` holds a few, as JSON strings.
   */
  rejected: { count: number; examples: string[] };
  /**
   * Where reports go: this receiver. report-to only when it is https: browsers deliver report-to to
   * https endpoints only, and Chromium drops report-uri when the policy names report-to.
   */
  endpoint: { reportUri: string; reportTo?: { group: string; url: string } };
  /**
   * The default selection (`selected` sources) as headers, whole lines (`Content-Security-Policy: …`);
   * `policy` is the value alone. The dashboard recomputes them as sources are ticked.
   */
  header: { policy: string; enforce: string; reportOnly: string; reportingEndpoints?: string };
  /** The same as `cspHeader()` options (see the README). */
  cspHeader: CspHeaderProposal;
}

/** `cspHeader()` options for a proposal: it adds the nonce itself when `nonce` is true. */
export interface CspHeaderProposal {
  directives: Record<string, string[] | true>;
  reportOnly?: boolean;
  reportUri: string;
  reportTo?: { group: string; url: string };
  nonce: boolean;
}
