import { FORBIDDEN_KEYS } from './fields.js';
import { ClientError } from './errors.js';

/** Real reports nest 3 levels; SDK context a few more. Deeper is a bomb. */
const MAX_DEPTH = 32;

/** csp-report (report-uri), reports+json (report-to), json (older browsers), text/plain (SDK beacon). */
const JSON_TYPES = new Set(['application/csp-report', 'application/reports+json', 'application/json', 'text/plain']);
const FORM = 'application/x-www-form-urlencoded';
/** Every type a browser sends reports as (DESIGN §2): what `parseBody` reads. */
export const REPORT_TYPES = [...JSON_TYPES, FORM];
/** What the SDK posts: text/plain, a CORS-safelisted type, so sendBeacon needs no preflight cross-site. */
export const SDK_TYPES = ['text/plain', 'application/json'];

/**
 * Request body text ⇒ JSON value. The HTTP layer decodes the bytes (invalid UTF-8 becomes U+FFFD,
 * which is just data here) and enforces the size limit. Throws 415 for an unsupported type, 400
 * for anything that is not safe, well-formed JSON.
 */
export function parseBody(text: string, contentType: string): unknown {
  // "application/json; charset=utf-8": only the media type matters; the text is already decoded.
  const type = (contentType.split(';')[0] ?? '').trim().toLowerCase();
  const body = text.replace(/^\uFEFF/, '').trim();
  if (JSON_TYPES.has(type)) return parseJson(body);
  if (type === FORM) return parseJson(formJson(body));
  const shown = type ? JSON.stringify(type.slice(0, 100)) : '(none)';
  throw new ClientError(415, `unsupported content type ${shown}: send application/csp-report, application/reports+json, application/json or text/plain`);
}

/**
 * Older browsers POST JSON as application/x-www-form-urlencoded: either the raw JSON itself, or
 * URL-encoded (then it is one field's name, or one field's value).
 */
function formJson(body: string): string {
  if (body === '' || body.startsWith('{') || body.startsWith('[')) return body;
  // URLSearchParams never throws on bad %-escapes (decodeURIComponent would).
  const fields = [...new URLSearchParams(body)];
  const json = (s: string) => /^\s*[[{]/.test(s);
  if (fields.length === 1 && fields[0]![1] === '' && json(fields[0]![0])) return fields[0]![0];
  const values = fields.filter(([, value]) => json(value));
  if (values.length === 1) return values[0]![1];
  throw new ClientError(
    400,
    values.length === 0 ? 'form body carries no JSON field' : `form body carries ${values.length} JSON fields, expected one`,
  );
}

function parseJson(body: string): unknown {
  if (body === '') throw new ClientError(400, 'empty body');
  // Measure nesting before parsing: JSON.parse and any walk of its result recurse, so a 100k-deep
  // array would cost a stack overflow or a long pause. One flat pass, no recursion.
  const depth = maxDepth(body);
  if (depth > MAX_DEPTH) throw new ClientError(400, `body nests deeper than ${MAX_DEPTH} levels`);
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch (e) {
    throw new ClientError(400, `body is not valid JSON: ${String((e as Error).message).slice(0, 200)}`);
  }
  // Keys like __proto__ poison objects when later merged or assigned: refuse the whole body. A walk
  // of the result costs a fraction of a JSON.parse reviver (a call per value).
  if (hasForbiddenKey(value)) {
    let forbidden: string | undefined;
    // Walked again in the reviver's order, for the error to name the same key it always did.
    JSON.parse(body, (key, v) => {
      if (forbidden === undefined && FORBIDDEN_KEYS.has(key)) forbidden = key;
      return v;
    });
    throw new ClientError(400, `body contains the forbidden key "${forbidden}"`);
  }
  return value;
}

/** Whether any object in the parsed value has a forbidden own key (nesting is bounded above). */
function hasForbiddenKey(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return false;
  if (Array.isArray(value)) {
    for (const item of value) if (hasForbiddenKey(item)) return true;
    return false;
  }
  for (const key of Object.keys(value)) {
    if (FORBIDDEN_KEYS.has(key) || hasForbiddenKey((value as Record<string, unknown>)[key])) return true;
  }
  return false;
}

/** Deepest bracket nesting outside string literals, stopping early once past the bound. */
function maxDepth(s: string): number {
  let depth = 0;
  let max = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x22) {
      // A string: jump to its closing quote (indexOf, not a loop over every character), the first
      // quote not escaped by an odd run of backslashes before it. Unterminated: nothing follows.
      for (;;) {
        const q = s.indexOf('"', i + 1);
        if (q === -1) return max;
        let b = q - 1;
        while (s.charCodeAt(b) === 0x5c) b--;
        i = q;
        if ((q - 1 - b) % 2 === 0) break;
      }
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > max && (max = depth) > MAX_DEPTH) return max;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return max;
}
