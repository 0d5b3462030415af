// What arrives on the wire. Every field is optional and untyped in practice: payloads are
// attacker-controlled and browsers disagree (DESIGN §2), so the receiver never trusts these shapes;
// they document what a well-behaved sender does.

/** `application/csp-report` body sent for `report-uri` (kebab-case, keys omitted when unknown). */
export interface ReportUriBody {
  'csp-report': LegacyCspReport;
}

export interface LegacyCspReport {
  'document-uri'?: string;
  referrer?: string;
  'violated-directive'?: string;
  'effective-directive'?: string;
  'original-policy'?: string;
  disposition?: 'enforce' | 'report';
  'blocked-uri'?: string;
  'line-number'?: number | string;
  'column-number'?: number | string;
  'source-file'?: string;
  'status-code'?: number | string;
  'script-sample'?: string;
}

/** One report of an `application/reports+json` batch (Reporting API, `report-to`). */
export interface ReportingApiReport<B = CspViolationReportBody> {
  type: string;
  age?: number;
  url?: string;
  user_agent?: string;
  body: B;
}

/** `body` of a `csp-violation` report (camelCase; `null` where unknown). */
export interface CspViolationReportBody {
  documentURL: string;
  referrer?: string | null;
  blockedURL?: string | null;
  effectiveDirective: string;
  originalPolicy?: string;
  sourceFile?: string | null;
  sample?: string | null;
  disposition: 'enforce' | 'report';
  statusCode?: number | null;
  lineNumber?: number | null;
  columnNumber?: number | null;
}

/** The SDK's batch, v1 (DESIGN §2). Sent as a text/plain string. */
export interface SdkBatch {
  v: 1;
  /** Client clock (ms since epoch) when the batch left; the receiver derives clock skew from it. */
  sentAt: number;
  page: SdkPage;
  events: SdkEvent[];
  /** Distinct violations not sent because the per-page-view cap was reached. */
  dropped?: number;
}

export interface SdkPage {
  /** Random page-view id. */
  id: string;
  /** Session id (sessionStorage: survives reloads in the tab). */
  session?: string;
  /** Full page URL, fragment included. */
  url: string;
  referrer?: string;
  release?: string;
  env?: string;
  tags?: Record<string, string>;
  /** Free-form context set by the app (`setContext`). */
  context?: Record<string, unknown>;
  viewport?: [number, number];
  lang?: string;
  /** Each distinct `originalPolicy` once per batch; events point into it. */
  policies?: string[];
}

export interface SdkEvent {
  /** Client clock (ms since epoch) of the first occurrence. */
  t: number;
  /** Occurrences since the last batch. */
  count: number;
  /** ms since navigation start (performance.now()) of the first occurrence. */
  sinceLoad?: number;
  documentURI: string;
  blockedURI: string;
  effectiveDirective: string;
  violatedDirective: string;
  /** Index into `page.policies`. */
  policy?: number;
  disposition: 'enforce' | 'report';
  statusCode: number;
  sourceFile: string;
  lineNumber: number;
  columnNumber: number;
  sample: string;
  referrer: string;
  element?: SdkElement;
  /** Why no element is attached: a fetch/eval has none; several different candidates; none matched. */
  noElement?: NoElementReason;
}

export type NoElementReason = 'none' | 'ambiguous' | 'not-found';

export interface SdkElement {
  tag: string;
  /** Short CSS selector, e.g. `head > link#v-ext-css`. */
  selector: string;
  /** Attribute holding the URL (`src`, `href`, `action`, …), absent for inline violations. */
  attr?: string;
  /** The element's full resolved URL, fragment included. */
  url?: string;
  /** Short, sanitized outer-HTML snippet. */
  html?: string;
  /**
   * Inline code only (a `<script>`, a `<style>`, a `style` or handler attribute): `sha256-<base64>` of
   * the text the browser hashed, the source a policy needs to allow it. Absent outside secure
   * contexts, over 16 Ki characters, or when the batch left before the digest was ready.
   */
  hash?: string;
}
