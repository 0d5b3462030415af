// The probe page of the fixtures (test/fixtures/chromium-156/page.html, rendered with that
// capture's values): every violation the fixtures name, a recorder of the securitypolicyviolation
// events (window.__probe) and SDK transport probes (window.__probeSend). Line numbers matter: the
// events and reports carry them, so the markup must stay line for line as it is.

/**
 * o: { run, nonce, receiver (the cross-site receiver origin), thirdParty, thirdPartyLocalhost,
 * extra (code for the empty line 100 of the page script; default none) }.
 */
export function probePage(o) {
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>csp probe ${o.run}</title>
<script nonce="${o.nonce}" id="sdk">
(() => {
  const RUN = "${o.run}";
  const B = "${o.receiver}";
  const events = [], robs = [], transport = [];
  let winCapture = 0;
  window.__probe = { events, robs, transport, get winCapture() { return winCapture; } };
  const attr = (t, n) => (t && t.getAttribute ? t.getAttribute(n) : undefined);
  function ser(t) {
    if (!t) return null;
    if (t === document) return { kind: 'Document', nodeName: t.nodeName };
    if (t === window) return { kind: 'Window' };
    return { kind: Object.prototype.toString.call(t).slice(8, -1), nodeName: t.nodeName, id: t.id || null,
      src: attr(t, 'src'), href: attr(t, 'href'), action: attr(t, 'action'),
      srcProp: ('src' in t) ? t.src : undefined, isConnected: t.isConnected };
  }
  // DOM elements whose src/href/action starts with the (possibly origin-only) blockedURI
  function candidates(blocked) {
    if (!/^https?:/.test(blocked)) return undefined;
    const out = [];
    for (const el of document.querySelectorAll('[src],[href],[action]')) {
      for (const a of ['src', 'href', 'action']) {
        const v = el.getAttribute(a); if (!v) continue;
        let abs; try { abs = new URL(v, document.baseURI).href; } catch { continue; }
        if (abs.startsWith(blocked)) out.push({ nodeName: el.nodeName, id: el.id || null, attr: a, value: abs });
      }
    }
    return out;
  }
  window.addEventListener('securitypolicyviolation', () => { winCapture++; }, true);
  document.addEventListener('securitypolicyviolation', (e) => {
    events.push({ now: performance.now(), blockedURI: e.blockedURI, columnNumber: e.columnNumber,
      disposition: e.disposition, documentURI: e.documentURI, effectiveDirective: e.effectiveDirective,
      lineNumber: e.lineNumber, originalPolicy: e.originalPolicy, referrer: e.referrer, sample: e.sample,
      sourceFile: e.sourceFile, statusCode: e.statusCode, violatedDirective: e.violatedDirective,
      target: ser(e.target), isTrusted: e.isTrusted, bubbles: e.bubbles, composed: e.composed,
      eventPhase: e.eventPhase, composedPathLength: e.composedPath().length, candidates: candidates(e.blockedURI) });
  });
  if (window.ReportingObserver) {
    new ReportingObserver((reports) => {
      for (const r of reports) robs.push({ now: performance.now(), type: r.type, url: r.url, body: r.body && r.body.toJSON ? r.body.toJSON() : r.body });
    }, { buffered: true }).observe();
  }
  // small payload (<1 KiB) so that the 64 KiB keepalive quota is not what decides the outcome
  const payload = (via) => JSON.stringify({ run: RUN, via, timeOrigin: performance.timeOrigin, sentAt: performance.now(), nEvents: events.length,
    first: events[0] ? { blockedURI: events[0].blockedURI, effectiveDirective: events[0].effectiveDirective } : null });
  const qs = (via, cors) => '?run=' + RUN + '&via=' + via + (cors ? '&cors=' + cors : '');
  function beacon(name, url, data) {
    try { transport.push({ name, t: performance.now(), result: navigator.sendBeacon(url, data) }); }
    catch (err) { transport.push({ name, t: performance.now(), error: String(err) }); }
  }
  async function kfetch(name, url, init) {
    const t = performance.now();
    try { const r = await fetch(url, init); transport.push({ name, t, status: r.status, type: r.type, ms: performance.now() - t }); }
    catch (err) { transport.push({ name, t, error: String(err), ms: performance.now() - t }); }
  }
  window.__probeSend = async () => {
    const blob = (via, type) => new Blob([payload(via)], { type });
    beacon('beacon-string-same', '/r/sdk' + qs('beacon-string-same'), payload('beacon-string-same'));
    beacon('beacon-blobtext-same', '/r/sdk' + qs('beacon-blobtext-same'), blob('beacon-blobtext-same', 'text/plain'));
    beacon('beacon-blobjson-same', '/r/sdk' + qs('beacon-blobjson-same'), blob('beacon-blobjson-same', 'application/json'));
    for (const cors of ['none', 'star', 'cred']) {
      beacon('beacon-string-cross-' + cors, B + '/r/sdk' + qs('beacon-string-cross-' + cors, cors), payload('beacon-string-cross-' + cors));
      beacon('beacon-blobtext-cross-' + cors, B + '/r/sdk' + qs('beacon-blobtext-cross-' + cors, cors), blob('beacon-blobtext-cross-' + cors, 'text/plain'));
      beacon('beacon-blobjson-cross-' + cors, B + '/r/sdk' + qs('beacon-blobjson-cross-' + cors, cors), blob('beacon-blobjson-cross-' + cors, 'application/json'));
    }
    const J = { 'content-type': 'application/json' };
    await Promise.all([
      kfetch('fetch-ka-json-same', '/r/sdk' + qs('fetch-ka-json-same'), { method: 'POST', keepalive: true, headers: J, body: payload('fetch-ka-json-same') }),
      ...['none', 'star', 'cred'].map((cors) =>
        kfetch('fetch-ka-json-cross-' + cors, B + '/r/sdk' + qs('fetch-ka-json-cross-' + cors, cors), { method: 'POST', keepalive: true, headers: J, body: payload('fetch-ka-json-cross-' + cors) })),
      kfetch('fetch-ka-json-cross-cred-include', B + '/r/sdk' + qs('fetch-ka-json-cross-cred-include', 'cred'), { method: 'POST', keepalive: true, credentials: 'include', headers: J, body: payload('fetch-ka-json-cross-cred-include') }),
      kfetch('fetch-ka-text-cross-none', B + '/r/sdk' + qs('fetch-ka-text-cross-none', 'none'), { method: 'POST', keepalive: true, headers: { 'content-type': 'text/plain' }, body: payload('fetch-ka-text-cross-none') }),
      kfetch('fetch-ka-nocors-json-cross-none', B + '/r/sdk' + qs('fetch-ka-nocors-json-cross-none', 'none'), { method: 'POST', keepalive: true, mode: 'no-cors', headers: J, body: payload('fetch-ka-nocors-json-cross-none') }),
    ]);
    await fetch('/r/sdk' + qs('results'), { method: 'POST', headers: J, body: JSON.stringify({ run: RUN, transport, ua: navigator.userAgent, winCapture, nEvents: events.length, nRobs: robs.length, timeOrigin: performance.timeOrigin, events, robs }) });
    return transport;
  };
  // keepalive quota probe: sendBeacon / fetch(keepalive) share a per-document in-flight body budget
  window.__probeQuota = async () => {
    const res = [];
    const big = (n) => 'x'.repeat(n * 1024);
    for (let i = 1; i <= 3; i++) {
      try { res.push({ what: 'beacon 30KiB #' + i, result: navigator.sendBeacon('/r/sdk' + qs('quota-beacon30k-' + i), big(30)) }); } catch (e) { res.push({ what: 'beacon 30KiB #' + i, error: String(e) }); }
    }
    await new Promise((r) => setTimeout(r, 1000));
    try { res.push({ what: 'beacon 65KiB alone', result: navigator.sendBeacon('/r/sdk' + qs('quota-beacon65k'), big(65)) }); } catch (e) { res.push({ what: 'beacon 65KiB alone', error: String(e) }); }
    try { res.push({ what: 'beacon 63KiB alone', result: navigator.sendBeacon('/r/sdk' + qs('quota-beacon63k'), big(63)) }); } catch (e) { res.push({ what: 'beacon 63KiB alone', error: String(e) }); }
    await new Promise((r) => setTimeout(r, 1000));
    try { const r = await fetch('/r/sdk' + qs('quota-fetchka65k'), { method: 'POST', keepalive: true, body: big(65) }); res.push({ what: 'fetch keepalive 65KiB', status: r.status }); } catch (e) { res.push({ what: 'fetch keepalive 65KiB', error: String(e) }); }
    try { const r = await fetch('/r/sdk' + qs('quota-fetch65k-nokeepalive'), { method: 'POST', body: big(65) }); res.push({ what: 'fetch (no keepalive) 65KiB', status: r.status }); } catch (e) { res.push({ what: 'fetch (no keepalive) 65KiB', error: String(e) }); }
    return res;
  };
  window.addEventListener('pagehide', () => {
    navigator.sendBeacon('/r/sdk' + qs('pagehide-beacon'), payload('pagehide-beacon'));
    fetch('/r/sdk' + qs('pagehide-fetch-ka'), { method: 'POST', keepalive: true, headers: { 'content-type': 'application/json' }, body: payload('pagehide-fetch-ka') });
  });
  ${o.extra ?? ""}
})();
</script>
<link id="v-ext-css" rel="stylesheet" href="${o.thirdParty}/static/s.css?css=1&k=v">
<style id="v-style-elem">body { font-family: monospace; } /* inline style element, longer than forty characters */</style>
</head>
<body>
<h1 id="title">CSP probe</h1>
<script id="v-ext-script" src="${o.thirdParty}/static/x.js?ext=1&token=abc"></script>
<script id="v-inline-script">window.__inlineRan = 'inline script without nonce: sample should be truncated at 40 chars';</script>
<div id="v-style-attr" style="color: red; background: yellow; border: 1px solid blue; padding: 3px">styled</div>
<img id="v-img" src="${o.thirdParty}/images/some/very/long/path/segment/photo-1234567890.png?user=alice&token=SECRET-TOKEN-0123456789&utm_source=probe#frag" alt="">
<img id="v-img-dup" src="${o.thirdParty}/images/some/very/long/path/segment/photo-1234567890.png?user=alice&token=SECRET-TOKEN-0123456789&utm_source=probe#frag" alt="">
<img id="v-img-lh" src="${o.thirdPartyLocalhost}/img2/path.png?q=localhost" alt="">
<img id="v-img-redirect" src="/redir?to=${encodeURIComponent(o.thirdParty)}%2Fredirected%2Fsecret%2Fpath.png%3Fk%3Dv%26token%3DREDIR" alt="">
<img id="ok-img" src="/static/ok.png" alt="">
<iframe id="v-iframe" src="${o.thirdParty}/frame.html?f=1&secret=frm"></iframe>
<iframe id="sink" name="sink" src="about:blank"></iframe>
<form id="v-form" action="${o.thirdParty}/submit?form=1" method="post" target="sink"><input name="a" value="b"></form>
<div id="v-onclick" onclick="window.__clicked = 'inline event handler attribute'">click</div>
<script nonce="${o.nonce}" id="triggers">
const note = (k, v) => { (window.__notes = window.__notes || {})[k] = v; };
fetch('${o.thirdParty}/api/data?x=1&secret=s3').then((r) => note('fetch', 'ok ' + r.status), (e) => note('fetch', String(e)));
try { eval('window.__evalRan = "eval() argument: a string that is longer than forty characters"'); note('eval', 'ran'); } catch (e) { note('eval', String(e)); }
for (let i = 0; i < 3; i++) { try { eval('1 + ' + i); } catch (e) { note('evalloop' + i, String(e)); } }
for (let i = 0; i < 3; i++) { try { eval('2 + 2'); } catch (e) { note('evalsame' + i, 'blocked'); } }

try { new Function('return "new Function body"')(); note('function', 'ran'); } catch (e) { note('function', String(e)); }
try { const w = new Worker(URL.createObjectURL(new Blob(['postMessage(1)'], { type: 'text/javascript' }))); w.onerror = (e) => note('worker', 'error event'); w.onmessage = () => note('worker', 'message'); } catch (e) { note('worker', String(e)); }
{ const im = new Image(); im.id = 'v-dyn-img'; im.src = '${o.thirdParty}/dyn/created-by-script.png?d=1'; document.body.appendChild(im); }
document.getElementById('v-onclick').click();
try { document.getElementById('v-form').submit(); note('form', 'submitted'); } catch (e) { note('form', String(e)); }
</script>
</body></html>
`;
}
