import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createScrubber } from '../../packages/receiver/src/core/scrub.js';
import { startTestServer } from '../helpers/server.js';
import { fixture, sdkBatch, sdkEventFrom } from '../helpers/bodies.js';

const CHROMIUM_UA = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/156.0.0.0 Safari/537.36';

describe('createScrubber', () => {
  const scrub = createScrubber()!;

  it('replaces the values of the named parameters, keeping the URL’s shape', () => {
    expect(scrub('https://shop.example/cb?code=4/0AQlEd8x&state=af0ifjsldkj&lang=en')).toBe('https://shop.example/cb?code=[scrubbed]&state=[scrubbed]&lang=en');
    expect(scrub('https://a.example/x?Access_Token=abc&TOKEN=def&sig=1&key=k')).toBe('https://a.example/x?Access_Token=[scrubbed]&TOKEN=[scrubbed]&sig=[scrubbed]&key=[scrubbed]');
    // Percent-encoded names, and values with = in them.
    expect(scrub('https://a.example/?%74oken=a%3Db&x=1')).toBe('https://a.example/?%74oken=[scrubbed]&x=1');
    expect(scrub('https://a.example/?password=a=b=c')).toBe('https://a.example/?password=[scrubbed]');
  });

  it('scrubs parameters in the fragment too (OAuth’s implicit flow: #access_token=…)', () => {
    expect(scrub('https://app.example/cb#access_token=ya29.a0&token_type=Bearer&state=xyz')).toBe('https://app.example/cb#access_token=[scrubbed]&token_type=Bearer&state=[scrubbed]');
    expect(scrub('https://app.example/cb?session=s1#top')).toBe('https://app.example/cb?session=[scrubbed]#top');
  });

  it('leaves alone what names no secret: other parameters, empty values, names in the path, keywords', () => {
    for (const u of ['https://a.example/token/code?x=1', 'https://a.example/?token=', 'https://a.example/?tokens=1&xkey=2', 'inline', 'data:image/png;base64,AAAA', 'https://a.example/']) {
      expect(scrub(u)).toBe(u);
    }
  });

  it('takes a configured list, "default" standing for the built-in one, and [] for none', () => {
    const custom = createScrubber(['sid', 'PHPSESSID'])!;
    expect(custom('https://a.example/?phpsessid=1&token=2&sid=3')).toBe('https://a.example/?phpsessid=[scrubbed]&token=2&sid=[scrubbed]');
    expect(createScrubber(['default', 'sid'])!('https://a.example/?sid=1&token=2')).toBe('https://a.example/?sid=[scrubbed]&token=[scrubbed]');
    expect(createScrubber([])).toBeUndefined();
    expect(() => createScrubber(['a=b'])).toThrow('csp-lens: scrubParams must be a list of parameter names');
  });

  it('keeps a scrubbed URL within the length any URL is kept to', () => {
    const long = `https://a.example/?${Array.from({ length: 400 }, () => 'key=1').join('&')}`.slice(0, 2048);
    expect(scrub(long).length).toBeLessThanOrEqual(2048);
    expect(scrub(long)).not.toMatch(/key=1/);
  });
});

describe('secrets never reach the store, the journal or the stream', () => {
  it('scrubs Chromium 156’s img report (token= in the blocked URL) and the SDK event of it, which still merge into one record', async () => {
    const dir = (await import('node:os')).tmpdir();
    const stream = join(dir, `csp-lens-scrub-${process.pid}-${Date.now()}.jsonl`);
    const s = await startTestServer({ stream });
    try {
      const ua = { 'user-agent': CHROMIUM_UA };
      // The document carries an OAuth callback's code and state; the page URL an access token in its fragment.
      const secretDoc = (u: string) => u.replace('?run=', '?code=4/0AQlEd8x&state=af0ifjsldkj&run=');
      const event = JSON.parse(await fixture('enforce/event-img.json'));
      event.documentURI = secretDoc(event.documentURI);
      const batch = { ...sdkBatch({ pageId: 'pv-scrub', url: `${event.documentURI}#access_token=ya29.a0` }), events: [sdkEventFrom(event, Date.now())] };
      (batch.page as { referrer?: string }).referrer = 'https://idp.example/authorize?client_id=x&client_secret=hunter2';
      batch.events[0] = { ...batch.events[0], element: { tag: 'img', selector: 'img#v-img', attr: 'src', url: event.blockedURI } } as never;
      const report = JSON.parse(await fixture('enforce/report-uri-img.json'));
      report['csp-report']['document-uri'] = secretDoc(report['csp-report']['document-uri']);
      expect(report['csp-report']['blocked-uri']).toContain('token=SECRET-TOKEN-0123456789');

      expect((await s.post('/sdk', JSON.stringify(batch), 'text/plain', ua)).status).toBe(204);
      expect((await s.post('/report', JSON.stringify(report), 'application/csp-report', ua)).status).toBe(204);

      const records = await s.all();
      expect(records).toHaveLength(1);
      const r = records[0]!;
      expect(r.sources).toEqual({ sdk: 1, reportUri: 1, reportTo: 0 });
      expect(r.documentURL).toBe('https://127.0.0.1:8811/p?code=[scrubbed]&state=[scrubbed]&run=a_uri-mwr10p63&mode=enforce&rep=uri');
      expect(r.blockedURL).toBe('https://127.0.0.1:8813/images/some/very/long/path/segment/photo-1234567890.png?user=alice&token=[scrubbed]&utm_source=probe');
      expect(r.page?.url).toMatch(/#access_token=\[scrubbed\]$/);
      expect(r.page?.referrer).toBe('https://idp.example/authorize?client_id=x&client_secret=[scrubbed]');
      expect(r.element?.url).toBe(r.blockedURL);
      expect(r.sdkValues).toBeUndefined();

      await s.running.close();
      const files = [s.db, s.db.replace(/\.json$/, '.journal.jsonl'), stream];
      for (const f of files) {
        const text = await readFile(f, 'utf8').catch(() => '');
        for (const secret of ['SECRET-TOKEN-0123456789', '4/0AQlEd8x', 'af0ifjsldkj', 'ya29.a0', 'hunter2']) expect(text, f).not.toContain(secret);
      }
      expect(await readFile(stream, 'utf8')).toContain('token=[scrubbed]');
    } finally {
      await s.close().catch(() => {});
      await (await import('node:fs/promises')).rm(stream, { force: true });
    }
  });

  it('stores URLs as received with scrubParams []', async () => {
    const s = await startTestServer({ scrubParams: [] });
    try {
      const report = await fixture('enforce/report-uri-img.json');
      expect((await s.post('/report', report, 'application/csp-report')).status).toBe(204);
      expect((await s.all())[0]!.blockedURL).toContain('token=SECRET-TOKEN-0123456789');
    } finally {
      await s.close();
    }
  });
});
