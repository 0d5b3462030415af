// The demo pages: what each one shows, its policy, and the markup with the parser-inserted violations
// (the ones that need page code are in public/triggers.js).

/** The policy every demo page violates (the fixtures' policy, plus the cross-origin receiver). */
export function demoDirectives(extraConnect = []) {
  return {
    'default-src': ["'self'"],
    'script-src': ["'self'", "'report-sample'"],
    'style-src': ["'self'", "'report-sample'"],
    'img-src': ["'self'", 'data:'],
    'connect-src': ["'self'", ...extraConnect],
    'frame-src': ["'self'"],
    'form-action': ["'self'"],
    'worker-src': ["'self'"],
  };
}

/** Paths, the scheme each page is meant for, how it reports, and what to expect. */
export const PAGES = [
  {
    path: '/report-uri',
    scheme: 'http',
    title: 'Enforced header policy, report-uri',
    expect: [
      'Plain http. Every violation below is blocked. For each one Chromium POSTs an application/csp-report to /csp/report at once, and the SDK beacons the securitypolicyviolation event to /csp/sdk.',
      'The receiver merges both into ONE record per violation: sources show sdk ≥ 1 and reportUri ≥ 1, with the SDK adding the element, the full URL (with #fragment) and the page view.',
      'The hidden frame at the bottom refuses to be framed (frame-ancestors): browsers fire no event for that, so it is the one native-only record.',
    ],
  },
  {
    path: '/report-to',
    scheme: 'https',
    title: 'Enforced header policy, report-to (https)',
    expect: [
      'https with a certificate generated at start. The policy names a Reporting-Endpoints group (report-to), so Chromium sends application/reports+json batches and ignores the report-uri that is also in the policy (kept for other browsers).',
      'Chromium uploads report-to batches on a 60 s tick (the first one of a profile at once; --short-reporting-delay makes it ~0.1 s). Until then records show sdk only; then sdk ≥ 1 and reportTo ≥ 1 on one record.',
      'Open this page over http and the csp-lens header helper drops report-to there (Chromium would send nothing at all) and warns in the server console.',
    ],
  },
  {
    path: '/report-only',
    scheme: 'http',
    title: 'Report-only policy',
    reportOnly: true,
    expect: [
      'Content-Security-Policy-Report-Only: nothing is blocked. The third-party script runs, the images, frame and stylesheet load, eval works, the form reaches the third party inside the hidden frame.',
      'Every violation is still reported (report-uri over http, report-to over https) and by the SDK; records have disposition "report".',
    ],
  },
  {
    path: '/meta',
    scheme: 'http',
    title: '<meta> policy: the SDK is the only source',
    meta: true,
    expect: [
      'The policy comes from a <meta http-equiv> tag, where report-uri and report-to are not allowed: browsers send no native report at all.',
      'Every record of this page comes from the SDK alone (sources: sdk only), element and full URL included.',
    ],
  },
  {
    path: '/cross-origin',
    scheme: 'https',
    title: 'Reporting to a receiver on another origin',
    remote: true,
    expect: [
      'The SDK loads from the receiver on another origin and beacons there (text/plain: no preflight); connect-src allows that origin.',
      'report-to goes to that origin too: Chromium sends a CORS preflight (OPTIONS) before every upload, which the receiver answers. Records appear in that receiver, not in this one (same token).',
    ],
  },
];

const TRIGGERS = [
  'external-script', 'external-stylesheet', 'inline-script', 'inline-style-element', 'style-attr',
  'inline-event-handler', 'img', 'img-crosssite', 'iframe', 'fetch', 'eval', 'new-function', 'worker',
  'form-action',
];

/** Distinct image violations the burst button triggers at once (with the load's, under the SDK's 100 per page view). */
const BURST = 60;

export const LONG_IMG_PATH =
  '/images/some/very/long/path/segment/photo-1234567890.png?user=alice&token=SECRET-TOKEN-0123456789&utm_source=demo';

const esc = (s) =>
  String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);

// What the page itself saw, one entry per violation event (the fields the SDK tells violations apart
// by): what the end-to-end tests hold the receiver's records against, in every engine. On the SDK's
// line, so no line number of the page moves.
const SEEN = "(function(){var s=window.__demoSeen=[];document.addEventListener('securitypolicyviolation',function(e){s.push([e.documentURI,e.blockedURI,e.effectiveDirective,e.sourceFile,e.lineNumber,e.columnNumber,e.sample,e.disposition,e.statusCode,e.referrer].join('\\n'))},true)})();";

/**
 * One demo page. `o`: { page, nonce, thirdParty, thirdPartyLocalhost, sdkOrigin, loader, metaPolicy,
 * policy (the header text, shown), links: [{ href, text }], query (the page's query string) }.
 */
export function renderPage(o) {
  const { page, nonce } = o;
  const n = esc(nonce);
  const tp = esc(o.thirdParty);
  const redirectTo = `${o.thirdParty}/redirect?to=secret-path-k-v`;
  const framed = !page.meta;
  // Carries the page's query (e.g. a test's run id) so its frame-ancestors report is told apart.
  const framedSrc = `/demo/framed?page=${page.path.slice(1)}${o.query ? `&${o.query}` : ''}`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
${o.metaPolicy ? `<meta http-equiv="Content-Security-Policy" content="${esc(o.metaPolicy)}">\n` : ''}<title>csp-lens demo: ${esc(page.title)}</title>
${o.loader ? `<script nonce="${n}">${o.loader}</script>\n` : ''}<script nonce="${n}" src="${esc(o.sdkOrigin)}/csp/sdk.js" data-release="demo-1.0.0" data-env="demo" async></script><script nonce="${n}">${SEEN}</script>
<link rel="stylesheet" href="/demo/demo.css">
<link id="v-ext-css" rel="stylesheet" href="${tp}/static/s.css?css=1&amp;k=v">
<style id="v-style-elem">body { font-family: monospace; } /* inline style element without a nonce */</style>
</head><body>
<nav>${o.links.map((l) => `<a href="${esc(l.href)}">${esc(l.text)}</a>`).join('')}</nav>
<h1>${esc(page.title)}</h1>
<div class="expect">${page.expect.map((p) => `<p>${esc(p)}</p>`).join('')}</div>
<p>Policy: <code id="policy">${esc(o.policy)}</code></p>
<p>Trigger again (each click is a new distinct violation):</p>
<div class="buttons">${TRIGGERS.map((k) => `<button type="button" data-trigger="${k}">${k}</button>`).join('')}<button type="button" data-trigger="all"><b>all of them</b></button><button type="button" data-burst="${BURST}">a burst of ${BURST} images</button></div>
<p class="note">A burst: every native report and every SDK beacon of the page share the browser's 64 KiB budget for requests that may outlive it. The native reports take it first; the SDK sends what does not fit with a plain fetch.</p>
<ol id="log"></ol>
<div class="violations">
<script id="v-ext-script" src="${tp}/static/x.js?ext=1&amp;token=abc"></script>
<script id="v-inline-script">window.__inlineRan = 'inline script without nonce: the sample is cut at 40 characters';</script>
<div id="v-style-attr" style="color: red; background: yellow; border: 1px solid blue; padding: 3px">a style attribute</div>
<img id="v-img" src="${tp}${esc(LONG_IMG_PATH)}#frag" alt="long path, query and #fragment">
<img id="v-img-lh" src="${esc(o.thirdPartyLocalhost)}/img2/path.png?q=localhost" alt="another site">
<img id="v-img-redirect" src="/demo/redir?to=${esc(encodeURIComponent(redirectTo))}" alt="redirected">
<img id="ok-img" src="/demo/ok.png" alt="allowed">
<iframe id="v-iframe" src="${tp}/frame.html?f=1&amp;secret=frm#frame"></iframe>
<iframe id="sink" name="sink" hidden></iframe>
${framed ? `<iframe id="v-frame-ancestors" src="${esc(framedSrc)}" hidden></iframe>\n` : ''}<form id="v-form" action="${tp}/submit?form=1" method="post" target="sink"><input name="a" value="b"></form>
<div id="v-onclick" onclick="window.__clicked = 'inline event handler attribute'">an inline onclick handler</div>
<div id="sandbox"></div>
</div>
<script nonce="${n}" src="/demo/triggers.js" data-third-party="${tp}" data-third-party-localhost="${esc(o.thirdPartyLocalhost)}"></script>
</body></html>
`;
}

/** The start page: every URL, what each page shows, and how to read what was stored. */
export function renderIndex(o) {
  const row = (p) =>
    `<tr><td><a href="${esc(p.url)}">${esc(p.url)}</a></td><td>${esc(p.title)}</td></tr>`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>csp-lens demo</title>
<link rel="stylesheet" href="/demo/demo.css"></head><body>
<h1>csp-lens demo</h1>
<p>Each page violates its Content Security Policy in every way the fixtures cover; the receiver mounted
in this site stores what the browser and the SDK report. Open a page, then look at the dashboard or the API.</p>
<table>${o.pages.map(row).join('')}</table>
<h2>Read what was stored</h2>
<pre>${esc(o.readHelp)}</pre>
</body></html>
`;
}

export function renderFramed() {
  return '<!doctype html><meta charset="utf-8"><title>framed</title><p>This page may not be framed (frame-ancestors \'none\').</p>';
}
