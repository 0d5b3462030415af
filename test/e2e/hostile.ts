// Payloads that would run script if any of them reached the DOM as markup or as a URL. Each sets
// `window.__pwned` so the test can tell that nothing ran even with the page's CSP bypassed.
import type { TestServer } from '../helpers/server.js';

export const X = {
  script: '<script>window.__pwned="script"</script>',
  img: '<img src=x onerror="window.__pwned=\'img\'">',
  svg: '"><svg onload=window.__pwned="svg">',
  js: 'javascript:window.__pwned="js"',
  handler: '<b onmouseover="window.__pwned=\'hover\'" onclick="window.__pwned=\'click\'">hover me</b>',
};
const ALL = `${X.script}${X.img}${X.svg}`;

export const DOC = `https://victim.example/shop?q=${encodeURIComponent(ALL)}&r=${X.svg}`;
export const POLICY = `default-src 'self'; script-src 'self' ${X.script}; img-src 'self' ${X.img}; connect-src 'self'; report-uri /csp/report`;

const HOUR = 3_600_000;

/** A native report-uri body with hostile text in every string field. */
export const reportUri = (over: Record<string, unknown> = {}) =>
  JSON.stringify({
    'csp-report': {
      'document-uri': DOC,
      referrer: `${X.js}//${X.img}`,
      'violated-directive': 'script-src-elem',
      'effective-directive': 'script-src-elem',
      'original-policy': POLICY,
      disposition: 'enforce',
      'blocked-uri': `https://evil.example/x.js?${ALL}`,
      'source-file': X.js,
      'line-number': 3,
      'column-number': 7,
      'script-sample': X.img,
      'status-code': 200,
      ...over,
    },
  });

/** An SDK batch whose page context and element carry the payloads. */
export function sdkBatch(now: number, events: Record<string, unknown>[]): string {
  return JSON.stringify({
    v: 1,
    sentAt: now,
    page: {
      id: `pv-${X.svg}`,
      session: X.script,
      url: `${DOC}#${X.img}`,
      referrer: X.js,
      release: X.img,
      env: X.svg,
      tags: { [X.handler]: X.script, team: X.js },
      context: { note: X.img },
      viewport: [1280, 800],
      lang: 'en',
      policies: [POLICY],
    },
    events: events.map((e) => ({
      t: now,
      count: 2,
      documentURI: DOC,
      blockedURI: 'inline',
      effectiveDirective: 'script-src-attr',
      violatedDirective: 'script-src-attr',
      policy: 0,
      disposition: 'enforce',
      statusCode: 200,
      sourceFile: `https://victim.example/app.js?${X.script}`,
      lineNumber: 12,
      columnNumber: 4,
      sample: X.handler,
      referrer: '',
      element: { tag: 'b', selector: `main > b[onclick="${X.js}"]`, attr: 'onclick', url: X.js, html: X.handler },
      ...e,
    })),
  });
}

const reportTo = (age: number, body: Record<string, unknown>) => ({
  type: 'csp-violation',
  age,
  url: 'https://shop.example/checkout',
  user_agent: 'Mozilla/5.0 (X11; Linux x86_64) Chrome/156.0.0.0',
  body: { documentURL: 'https://shop.example/checkout', disposition: 'enforce', statusCode: 200, originalPolicy: POLICY, ...body },
});

// Ordinary traffic over the last day, so the chart and coverage have something to show.
const BACKGROUND: [string, string, number][] = [
  ['img-src', 'https://cdn.tracker.example/pixel.gif', 3],
  ['connect-src', 'https://collect.analytics.example/v1/events', 2],
  ['script-src-elem', 'https://widgets.example/embed.js', 1],
  ['style-src-elem', 'https://fonts.example/css2', 2],
  ['font-src', 'https://fonts.example/font.woff2', 1],
  ['frame-src', 'https://ads.example', 1],
];

export async function seed(t: TestServer, now: number): Promise<void> {
  const ok = async (res: Response) => {
    if (res.status !== 204) throw new Error(`seed: ${res.status} ${await res.text()}`);
  };
  const batch: object[] = [];
  for (let h = 0; h < 23; h++) {
    BACKGROUND.forEach(([directive, blocked, weight], i) => {
      const n = Math.round(weight * (1 + Math.sin((h + i * 3) / 3.5)) + (h > 16 && i === 1 ? 4 : 0));
      for (let k = 0; k < n; k++) batch.push(reportTo(h * HOUR + k * 60_000 + i * 1000, { effectiveDirective: directive, blockedURL: `${blocked}?h=${h}&k=${k}` }));
    });
  }
  await ok(await t.post('/report', JSON.stringify(batch), 'application/reports+json'));
  // Hostile native reports: a blocked URL, a javascript: URL, an inline script with a hostile sample.
  await ok(await t.post('/report', reportUri(), 'application/csp-report'));
  await ok(await t.post('/report', reportUri({ 'blocked-uri': X.js, 'effective-directive': 'connect-src', 'violated-directive': 'connect-src' }), 'application/csp-report'));
  await ok(await t.post('/report', reportUri({ 'blocked-uri': 'inline', 'source-file': `https://victim.example/${X.svg}` }), 'application/csp-report'));
  // The SDK alone sees the handler; an img is seen by both (merged).
  const img = `https://evil.example/track.gif?${encodeURIComponent(ALL)}`;
  await ok(await t.post('/sdk', sdkBatch(now, [{}, { blockedURI: img, effectiveDirective: 'img-src', violatedDirective: 'img-src', sourceFile: '', lineNumber: 0, columnNumber: 0, sample: '', count: 1, element: { tag: 'img', selector: `#${X.svg}`, attr: 'src', url: `${img}#${X.img}`, html: X.img } }]), 'text/plain'));
  await ok(await t.post('/report', reportUri({ 'blocked-uri': img, 'effective-directive': 'img-src', 'violated-directive': 'img-src', 'source-file': undefined, 'line-number': undefined, 'column-number': undefined, 'script-sample': undefined }), 'application/csp-report'));
}

// Values that attack the layout and the reading rather than the script: one unbroken token as long
// as a URL may be, characters that render as nothing or reorder the text around them, tags whose
// values look like more tags, and more directive names than a menu can hold.

/** 2,000+ characters without a break opportunity (the URL cap is 2,048). */
export const LONG = `https://evil.example/${'W'.repeat(2000)}`;

/** Format (Cf), line and paragraph separators (Zl, Zp), bidi controls, a soft hyphen, a tag character. */
export const INVISIBLE = ['\u061c', '\u2028', '\u2029', '\u00ad', '\u200e', '\u202e', '\u2066', '\ufeff', '\u180e', '\ufff9', '\u{e0041}', '\u034f'];

/** A tag value that would read as two more tags if tags were joined with commas. */
export const TAGS = { team: 'checkout, env=prod', 'owner=ops': 'x, y=z', release: '7' };

/** Directive names in the flood: distinct, valid tokens. */
export const FLOOD = 10_000;
export const floodDirective = (i: number) => `x-flood-${i.toString(36)}`;

export async function seedOversized(t: TestServer, now: number): Promise<void> {
  const ok = async (res: Response) => {
    if (res.status !== 204) throw new Error(`seedOversized: ${res.status} ${await res.text()}`);
  };
  // FLOOD distinct directive names. The flood comes first: the store keeps the newest 10,000
  // records, and the tests open the ones below. Ingest takes only CSP's directives now (issue 16),
  // so they go to the store directly, as a store written before that check may hold them.
  for (let from = 0; from < FLOOD; from += 1000) {
    const at = now - 60_000;
    const violations = Array.from({ length: 1000 }, (_, k) => ({
      stream: 'reportTo' as const, documentURL: 'https://shop.example/checkout', blockedURL: 'https://flood.example/x',
      effectiveDirective: floodDirective(from + k), violatedDirective: floodDirective(from + k), disposition: 'enforce' as const,
      statusCode: 200, originalPolicy: POLICY, occurredAt: at, receivedAt: at, count: 1, userAgent: 'Mozilla/5.0 (X11; Linux x86_64) Chrome/156.0.0.0',
      category: 'external' as const, severity: 'medium' as const,
    }));
    await t.running.receiver.store.append({ violations, otherReports: {}, invalid: 0 });
  }
  const hidden = INVISIBLE.join('');
  // The SDK and a native report of one violation that disagree on the referrer and the blocked URL
  // (the browser cut the report's to its origin): the record shows what "the SDK saw differently",
  // here values with no place to wrap.
  const sdk = JSON.parse(sdkBatch(now, [{ blockedURI: LONG, effectiveDirective: 'img-src', violatedDirective: 'img-src', referrer: LONG, sourceFile: '', lineNumber: 0, columnNumber: 0, sample: '', count: 1, element: { tag: 'img', selector: `#${'s'.repeat(250)}`, attr: 'src', url: LONG, html: `<img src="${LONG}">` } }]));
  sdk.page = { ...sdk.page, id: 'pv-long', url: `${LONG}?page`, tags: { ...TAGS, long: 'L'.repeat(250) }, release: `r${hidden}`, env: 'prod' };
  await ok(await t.post('/sdk', JSON.stringify(sdk), 'text/plain'));
  await ok(await t.post('/report', reportUri({ 'blocked-uri': 'https://evil.example', 'effective-directive': 'img-src', 'violated-directive': 'img-src', referrer: 'https://victim.example/', 'source-file': undefined, 'line-number': undefined, 'column-number': undefined, 'script-sample': undefined }), 'application/csp-report'));
  // Invisible characters in a native report's own fields.
  await ok(await t.post('/report', reportUri({ 'blocked-uri': 'inline', 'effective-directive': 'style-src-attr', 'violated-directive': 'style-src-attr', 'script-sample': `a${hidden}b`, 'source-file': `https://victim.example/${hidden}.js`, referrer: `https://r.example/${hidden}` }), 'application/csp-report'));
}
