import type { SdkEvent } from '@csp-lens/schema';

/** A violation as the SDK handles it before it is queued: the event's fields, plus its policy. */
export interface Violation extends Omit<SdkEvent, 'count' | 'policy'> {
  originalPolicy: string;
}

/** What reaches the handler: a real event, or the loader snippet's plain copy of one (loader.js). */
export type RawViolation = Pick<
  SecurityPolicyViolationEvent,
  | 'documentURI' | 'referrer' | 'blockedURI' | 'effectiveDirective' | 'violatedDirective'
  | 'originalPolicy' | 'sourceFile' | 'sample' | 'disposition' | 'statusCode' | 'lineNumber'
  | 'columnNumber' | 'target' | 'isTrusted' | 'timeStamp'
>;

// The twelve fields are getters on SecurityPolicyViolationEvent.prototype: `{...e}` or
// JSON.stringify(e) would copy none of them, so each is read by name (loader.js uses this list).
// https://www.w3.org/TR/CSP3/#violation-events
const FIELDS =
  'documentURI referrer blockedURI effectiveDirective violatedDirective originalPolicy sourceFile sample disposition statusCode lineNumber columnNumber';

export function copy(e: RawViolation): Violation {
  // The event is a queued task, and the loader may have buffered it for a while: timeStamp
  // (ms since the time origin, like performance.now()) says when it happened, not "now".
  const ts = e.timeStamp;
  const v = { t: Math.round(Date.now() - performance.now() + ts), sinceLoad: Math.round(ts) } as Violation;
  for (const k of FIELDS.split(' ')) (v as any)[k] = e[k as keyof RawViolation];
  return v;
}
