import type { NoElementReason, NormalizedViolation, PageContext, SdkElement } from '@csp-lens/schema';
import { CAP, clampNum, cleanText, countInvalid, FORBIDDEN_KEYS, int, isObject, own, saturate, str, type Obj } from './fields.js';
import { readReport, redactNonces, toViolation } from './report.js';
import { ClientError } from './errors.js';
import { type IngestBatch, type RequestMeta } from './types.js';

/** The SDK keeps batches ≤ 16 KiB (DESIGN §2): a few dozen events. Far more is not our SDK. */
const MAX_SDK_EVENTS = 500;
const MAX_POLICIES = 32;
/** Per-event occurrence count: a page in a loop can rack up many, but not billions. */
const MAX_COUNT = 1_000_000;
/** Events older than this (client clock, after skew correction) are clamped: broken clocks. */
const MAX_EVENT_AGE_MS = 24 * 60 * 60 * 1000;
const NO_ELEMENT = new Set<NoElementReason>(['none', 'ambiguous', 'not-found']);
/**
 * The SDK's hash of blocked inline code, as the policy source it would go into: SHA-256 is 32
 * bytes, so canonical base64 is 43 characters, the last of them with its two low bits zero, and
 * one `=`. Anything else is not a hash our SDK made and is dropped: this text can end up in a
 * proposed policy header (core/proposal.ts).
 */
export const SDK_HASH = /^sha256-[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/;

/** Our own batch (SdkBatch v1, wire.ts) ⇒ normalized violations; 400 when it is not one. */
export function normalizeSdk(body: unknown, meta: RequestMeta): IngestBatch {
  if (!isObject(body)) throw new ClientError(400, 'not an SDK batch: expected an object');
  if (own(body, 'v') !== 1) throw new ClientError(400, 'not an SDK batch: "v" must be 1');
  const events = own(body, 'events');
  if (!Array.isArray(events)) throw new ClientError(400, 'not an SDK batch: "events" must be an array');
  if (events.length > MAX_SDK_EVENTS) {
    throw new ClientError(400, `too many events in one batch: ${events.length} (max ${MAX_SDK_EVENTS})`);
  }
  const rawPage = own(body, 'page');
  const pageId = isObject(rawPage) ? str(own(rawPage, 'id'), CAP.id) : undefined;
  if (!isObject(rawPage) || !pageId) throw new ClientError(400, 'not an SDK batch: "page" must be an object with a string "id"');

  const page = pageContext(rawPage, pageId);
  const rawPolicies = own(rawPage, 'policies');
  // Each policy once per batch, not once per event that points at it.
  const policies = (Array.isArray(rawPolicies) ? rawPolicies.slice(0, MAX_POLICIES) : []).map((p) => redactNonces(str(p, CAP.policy)));
  // Client clock → server clock: the batch left at sentAt (client) and arrived at receivedAt.
  const sentAt = clampNum(own(body, 'sentAt'), 0, Number.MAX_SAFE_INTEGER);
  const skew = sentAt === undefined ? undefined : meta.receivedAt - sentAt;

  const batch: IngestBatch = { violations: [], otherReports: {}, invalid: 0 };
  const dropped = saturate(own(body, 'dropped'), 0, MAX_COUNT);
  if (dropped) batch.sdkDropped = dropped;
  for (const e of events) {
    const v = isObject(e) ? fromEvent(e, page, policies, skew, meta) : { invalid: 'not-an-event' };
    if ('invalid' in v) countInvalid(batch, v.invalid);
    else batch.violations.push(v);
  }
  return batch;
}

function fromEvent(e: Obj, page: PageContext, policies: (string | undefined)[], skew: number | undefined, meta: RequestMeta) {
  const fields = readReport(e);
  if ('invalid' in fields) return fields;
  const index = int(own(e, 'policy'), 0, policies.length - 1);
  fields.originalPolicy = index === undefined ? undefined : policies[index];
  const t = clampNum(own(e, 't'), 0, Number.MAX_SAFE_INTEGER);
  // Without both clocks there is no correction to make: then it happened about when it arrived.
  const corrected = t === undefined || skew === undefined ? meta.receivedAt : Math.round(t + skew);
  const v: NormalizedViolation = toViolation(fields, {
    stream: 'sdk',
    occurredAt: Math.min(meta.receivedAt, Math.max(meta.receivedAt - MAX_EVENT_AGE_MS, corrected)),
    receivedAt: meta.receivedAt,
    count: saturate(own(e, 'count'), 1, MAX_COUNT) ?? 1,
    userAgent: meta.userAgent,
    clientIp: meta.clientIp,
    // The page URL keeps its fragment (reports drop it); fall back to the event's document. The
    // events of a batch share one page context: nothing downstream writes into it.
    page: page.url ? page : { ...page, url: fields.documentURL },
    element: element(own(e, 'element')),
    noElement: NO_ELEMENT.has(own(e, 'noElement') as NoElementReason) ? (own(e, 'noElement') as NoElementReason) : undefined,
    sinceLoad: clampNum(own(e, 'sinceLoad'), 0, Number.MAX_SAFE_INTEGER),
  });
  if (v.sinceLoad !== undefined) v.sinceLoad = Math.round(v.sinceLoad);
  return v;
}

function pageContext(p: Obj, id: string): PageContext {
  const ctx: PageContext = { id, url: str(own(p, 'url'), CAP.url) ?? '' };
  const fields: [keyof PageContext, number][] = [
    ['session', CAP.id], ['referrer', CAP.url], ['release', CAP.short], ['env', CAP.short], ['lang', CAP.lang],
  ];
  for (const [k, cap] of fields) {
    const s = str(own(p, k), cap);
    if (s !== undefined) (ctx as unknown as Obj)[k] = s;
  }
  const tags = stringMap(own(p, 'tags'));
  if (tags) ctx.tags = tags;
  const context = jsonObject(own(p, 'context'));
  if (context) ctx.context = context;
  const vp = own(p, 'viewport');
  if (Array.isArray(vp) && vp.length === 2) {
    const [w, h] = vp.map((n) => (typeof n === 'number' && Number.isFinite(n) ? clampNum(Math.round(n), 0, 100_000) : undefined));
    if (w !== undefined && h !== undefined) ctx.viewport = [w, h];
  }
  return ctx;
}

/** tags: string → string; numbers and booleans become strings, anything else is skipped. */
function stringMap(v: unknown): Record<string, string> | undefined {
  if (!isObject(v)) return undefined;
  const out: Record<string, string> = {};
  let n = 0;
  for (const [k, raw] of Object.entries(v)) {
    if (n >= CAP.tags) break;
    const key = str(k, CAP.tagKey);
    const value = typeof raw === 'number' || typeof raw === 'boolean' ? String(raw) : str(raw, CAP.tagValue);
    if (!key || FORBIDDEN_KEYS.has(key) || value === undefined) continue;
    out[key] = value;
    n++;
  }
  return n ? out : undefined;
}

/**
 * Free-form app context: kept only as plain JSON within CAP.context characters, every key and
 * string in it cleaned as any other field (cleanText): a NUL or lone surrogate nested in here
 * reached the store as it came. Cleaning only shortens the JSON, so the cap still holds.
 */
function jsonObject(v: unknown): Record<string, unknown> | undefined {
  if (!isObject(v)) return undefined;
  let json: string;
  try {
    json = JSON.stringify(v);
  } catch {
    return undefined; // cycles or BigInt: not JSON
  }
  if (json.length > CAP.context || json === '{}') return undefined;
  const out = cleanJson(JSON.parse(json)) as Record<string, unknown>;
  return Object.keys(out).length ? out : undefined;
}

/** A parsed JSON value with its keys and strings cleaned; keys that could reach a prototype dropped. */
function cleanJson(v: unknown): unknown {
  if (typeof v === 'string') return cleanText(v);
  if (Array.isArray(v)) return v.map(cleanJson);
  if (!isObject(v)) return v;
  const out: Obj = {};
  for (const [k, value] of Object.entries(v)) {
    // Checked after cleaning: `__proto__\0` is `__proto__` once the NUL is gone.
    const key = cleanText(k);
    if (!FORBIDDEN_KEYS.has(key)) out[key] = cleanJson(value);
  }
  return out;
}

function element(v: unknown): SdkElement | undefined {
  if (!isObject(v)) return undefined;
  const tag = str(own(v, 'tag'), CAP.tag);
  const selector = str(own(v, 'selector'), CAP.selector);
  if (!tag || !selector) return undefined;
  const el: SdkElement = { tag, selector };
  const attr = str(own(v, 'attr'), CAP.tag);
  const url = str(own(v, 'url'), CAP.url);
  const html = str(own(v, 'html'), CAP.html);
  if (attr) el.attr = attr;
  if (url) el.url = url;
  if (html) el.html = html;
  const hash = own(v, 'hash');
  if (typeof hash === 'string' && SDK_HASH.test(hash)) el.hash = hash;
  return el;
}
