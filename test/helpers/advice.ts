import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { expect } from 'vitest';
import type { TestServer } from './server.js';

// One real page view of Firefox ESR 153 on the probe page (test/fixtures/firefox-153/wire/
// f_sdk_uri.json), posted to a receiver as it arrived: for the advice and policy builder tests.

const FIXTURES = new URL('../fixtures/', import.meta.url);
const read = (path: string) => readFileSync(new URL(path, FIXTURES), 'utf8');
export const sha256 = (text: string) => `sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}`;
const PAGE = read('firefox-153/page.html');
/** The texts the browser hashes for the probe page's inline code, by element id. */
export const TEXT: Record<string, string> = {
  'v-inline-script': /<script id="v-inline-script">([^<]*)<\/script>/.exec(PAGE)![1]!,
  'v-style-elem': /<style id="v-style-elem">([^<]*)<\/style>/.exec(PAGE)![1]!,
  'v-style-attr': /id="v-style-attr" style="([^"]*)"/.exec(PAGE)![1]!,
  'v-onclick': /id="v-onclick" onclick="([^"]*)"/.exec(PAGE)![1]!,
};

const header = (raw: string[], name: string) => {
  for (let i = 0; i < raw.length; i += 2) if (raw[i]!.toLowerCase() === name) return raw[i + 1];
  return undefined;
};

/** Posts one page view as Firefox sent it (report-uri and the SDK batch), from `client`. */
export async function replay(t: TestServer, o: { client?: string; hash?: boolean; mutate?: (body: any) => void } = {}) {
  const wire = JSON.parse(read('firefox-153/wire/f_sdk_uri.json')) as { requests: { method: string; url: string; rawHeaders: string[]; body: string }[] };
  for (const r of wire.requests) {
    if (r.method !== 'POST' || !(r.url.startsWith('/r/uri') || r.url.includes('via=sdk'))) continue;
    const sdk = r.url.includes('via=sdk');
    let body = r.body;
    if (sdk) {
      const batch = JSON.parse(body);
      for (const e of batch.events) {
        if (o.hash !== false && e.blockedURI === 'inline' && e.element) e.element.hash = sha256(TEXT[/#([\w-]+)$/.exec(e.element.selector)![1]!]!);
      }
      o.mutate?.(batch);
      body = JSON.stringify(batch);
    }
    const res = await t.post(sdk ? '/sdk' : '/report', body, header(r.rawHeaders, 'content-type'), {
      'user-agent': header(r.rawHeaders, 'user-agent')!,
      'x-forwarded-for': o.client ?? '198.51.100.7',
    });
    expect(res.status).toBe(204);
  }
}

