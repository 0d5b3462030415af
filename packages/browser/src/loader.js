// Inline, before any other script: buffers violations until the SDK loads and drains
// window.__cspLens (up to 100). Keep it tiny and dependency-free; its CSP hash is printed by
// scripts/loader-hash.mjs and changes with every byte of the minified form.
(function (w, k) {
  w.__cspLens = w.__cspLens || [];
  document.addEventListener(
    'securitypolicyviolation',
    function (e) {
      var q = w.__cspLens, o = {}, i = 0;
      // Once the SDK runs, __cspLens is its handle (no push): stop buffering.
      if (q && q.push && q.length < 100) {
        // The fields are prototype getters: copy them by name (target kept for element lookup).
        for (; i < k.length; i++) o[k[i]] = e[k[i]];
        q.push(o);
      }
    },
    true,
  );
})(
  window,
  'documentURI referrer blockedURI effectiveDirective violatedDirective originalPolicy sourceFile sample disposition statusCode lineNumber columnNumber target isTrusted timeStamp'.split(' '),
);
