// Which violation of the probe page an event or a native report describes: the fixtures' types.
// Engines differ in what they say (Chromium cuts frames to the origin, WebKit's report-uri has no
// sample, Firefox's no position for resources), so each type is told by what every engine keeps.
import { probePage } from './page.mjs';

export const TYPES = [
  'img', 'img-crosssite', 'img-dynamic', 'img-redirect', 'iframe', 'external-script',
  'external-stylesheet', 'inline-script', 'inline-style-element', 'style-attr',
  'inline-event-handler', 'eval', 'eval-loop', 'eval-repeat', 'new-function', 'fetch', 'worker',
  'form-action', 'frame-src-form-target',
];

// Lines of the page's triggers, for reports that carry nothing else to tell them apart.
const LINES = (() => {
  const lines = probePage({ run: 'r', nonce: 'n', receiver: 'https://b', thirdParty: 'https://c', thirdPartyLocalhost: 'https://d' }).split('\n');
  const at = (needle) => lines.findIndex((l) => l.includes(needle)) + 1;
  return {
    eval: at("eval('window.__evalRan"),
    evalLoop: at("eval('1 + ' + i)"),
    evalRepeat: at("eval('2 + 2')"),
    newFunction: at('new Function('),
    formSubmit: at("getElementById('v-form').submit()"),
  };
})();

/** The fields that tell violations apart, from an event, a report-uri body or a report-to body. */
export function fieldsOf(x) {
  if (x && typeof x === 'object' && 'blockedURI' in x) {
    return { directive: x.effectiveDirective, blocked: x.blockedURI, sample: x.sample, line: x.lineNumber };
  }
  if (x && typeof x === 'object' && ('blocked-uri' in x || 'document-uri' in x)) {
    const directive = x['effective-directive'] ?? String(x['violated-directive'] ?? '').split(' ')[0];
    return { directive, blocked: x['blocked-uri'], sample: x['script-sample'], line: x['line-number'] };
  }
  return { directive: x?.effectiveDirective, blocked: x?.blockedURL, sample: x?.sample, line: x?.lineNumber };
}

/** The fixture type of a violation, or 'other'. */
export function typeOf(x) {
  const { directive = '', blocked = '', sample, line } = fieldsOf(x);
  const d = directive.replace(/-(elem|attr)$/, '');
  const has = (s) => blocked.includes(s);
  const starts = (p) => typeof sample === 'string' && sample.startsWith(p);
  if (directive === 'img-src') {
    if (has('/images/')) return 'img';
    if (has('/img2/')) return 'img-crosssite';
    if (has('/dyn/')) return 'img-dynamic';
    if (has('/redir')) return 'img-redirect';
    return 'other';
  }
  if (directive === 'connect-src') return 'fetch';
  if (directive === 'form-action') return 'form-action';
  if (directive === 'worker-src' || directive === 'child-src' || blocked === 'blob' || blocked.startsWith('blob:')) return 'worker';
  if (directive === 'frame-src') {
    if (has('/frame.html')) return 'iframe';
    if (has('/submit')) return 'frame-src-form-target';
    // Cut to the origin: only the position tells a form's target frame from the iframe, and
    // Firefox and WebKit give neither a position (see typesOf).
    if (line === LINES.formSubmit) return 'frame-src-form-target';
    return line ? 'iframe' : 'frame-src?';
  }
  if (d === 'style-src') {
    if (has('/static/s.css')) return 'external-stylesheet';
    if (directive === 'style-src-attr' || starts('color: red')) return 'style-attr';
    return 'inline-style-element';
  }
  if (d === 'script-src') {
    if (has('/static/x.js')) return 'external-script';
    if (blocked === 'inline') {
      if (directive === 'script-src-attr' || starts('window.__clicked')) return 'inline-event-handler';
      return 'inline-script';
    }
    if (blocked === 'eval' || blocked.startsWith('eval')) {
      if (starts('window.__evalRan')) return 'eval';
      if (starts('1 + ')) return 'eval-loop';
      if (starts('2 + 2')) return 'eval-repeat';
      if (typeof sample === 'string' && sample.includes('anonymous')) return 'new-function';
      // WebKit's report-uri has no sample: the line still tells.
      if (line === LINES.eval) return 'eval';
      if (line === LINES.evalLoop) return 'eval-loop';
      if (line === LINES.evalRepeat) return 'eval-repeat';
      if (line === LINES.newFunction) return 'new-function';
    }
  }
  return 'other';
}

/**
 * The types of a list in the order it happened (events, or one stream's reports as they arrived).
 * A frame-src cut to the origin without a position is the iframe if no other violation is, else
 * the form's target frame (it navigates last, after the submission).
 */
export function typesOf(list) {
  const types = list.map(typeOf);
  let iframe = types.includes('iframe');
  return types.map((t) => {
    if (t !== 'frame-src?') return t;
    if (iframe) return 'frame-src-form-target';
    iframe = true;
    return 'iframe';
  });
}
