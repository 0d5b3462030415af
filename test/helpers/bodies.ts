import { readdir, readFile } from 'node:fs/promises';

// Request bodies and headers: the real Chromium payloads of test/fixtures, and made-up valid ones.

export const FIXTURES = new URL('../fixtures/chromium-156/', import.meta.url);

export const fixture = (name: string): Promise<string> => readFile(new URL(name, FIXTURES), 'utf8');

/** Fixture file names in a mode directory that start with `prefix`. */
export async function fixtureNames(mode: 'enforce' | 'report-only', prefix: string): Promise<string[]> {
  return (await readdir(new URL(`${mode}/`, FIXTURES))).filter((f) => f.startsWith(prefix) && f.endsWith('.json')).sort();
}

let unique = 0;

/** A distinct report-uri body: each call a new document URL, so each is its own record. */
export function reportUriBody(tag = 'r', overrides: Record<string, unknown> = {}): { body: string; document: string } {
  const document = `https://shop.example/page?${tag}=${++unique}`;
  const report = {
    'document-uri': document,
    referrer: '',
    'violated-directive': 'img-src',
    'effective-directive': 'img-src',
    'original-policy': "default-src 'self'; img-src 'self'; report-uri /csp/report",
    disposition: 'enforce',
    'blocked-uri': 'https://tracker.example/pixel.gif',
    'status-code': 200,
    ...overrides,
  };
  return { body: JSON.stringify({ 'csp-report': report }), document };
}

/** A valid SDK batch (SdkBatch v1, packages/schema/src/wire.ts) with one event per blocked URL. */
export function sdkBatch(opts: { pageId?: string; url?: string; blocked?: string[]; sentAt?: number } = {}) {
  const url = opts.url ?? 'https://shop.example/checkout#step-2';
  const documentURI = url.replace(/#.*$/, '');
  const sentAt = opts.sentAt ?? Date.now();
  return {
    v: 1 as const,
    sentAt,
    page: {
      id: opts.pageId ?? `pv-${++unique}`,
      session: 'sess-1',
      url,
      release: '1.2.3',
      viewport: [1280, 720] as [number, number],
      policies: ["default-src 'self'; img-src 'self'; report-uri /csp/report"],
    },
    events: (opts.blocked ?? ['https://tracker.example/pixel.gif']).map((blocked) => ({
      t: sentAt - 50,
      count: 2,
      documentURI,
      blockedURI: blocked,
      effectiveDirective: 'img-src',
      violatedDirective: 'img-src',
      policy: 0,
      disposition: 'enforce' as const,
      statusCode: 200,
      sourceFile: '',
      lineNumber: 0,
      columnNumber: 0,
      sample: '',
      referrer: '',
      element: { tag: 'img', selector: 'img#pixel', attr: 'src', url: blocked },
    })),
  };
}

// Set by fetch itself (or meaningless off the original connection).
const TRANSPORT_HEADERS = new Set(['host', 'connection', 'content-length']);

/** The request headers Chromium really sent (fixtures/headers), minus the transport ones. */
export async function browserHeaders(name: string): Promise<{ method: string; headers: Record<string, string> }> {
  const { method, rawHeaders } = JSON.parse(await fixture(`headers/${name}`)) as { method: string; rawHeaders: string[] };
  const headers: Record<string, string> = {};
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if (!TRANSPORT_HEADERS.has(rawHeaders[i].toLowerCase())) headers[rawHeaders[i].toLowerCase()] = rawHeaders[i + 1];
  }
  return { method, headers };
}

/** An SDK event (wire.ts SdkEvent) from a recorded SecurityPolicyViolationEvent fixture. */
export function sdkEventFrom(event: Record<string, unknown>, t: number) {
  const pick = <T>(k: string, d: T) => (event[k] ?? d) as T;
  return {
    t,
    count: 1,
    documentURI: pick('documentURI', ''),
    blockedURI: pick('blockedURI', ''),
    effectiveDirective: pick('effectiveDirective', ''),
    violatedDirective: pick('violatedDirective', ''),
    disposition: pick('disposition', 'enforce'),
    statusCode: pick('statusCode', 0),
    sourceFile: pick('sourceFile', ''),
    lineNumber: pick('lineNumber', 0),
    columnNumber: pick('columnNumber', 0),
    sample: pick('sample', ''),
    referrer: pick('referrer', ''),
    noElement: 'not-found' as const,
  };
}
