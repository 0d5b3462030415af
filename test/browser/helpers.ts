// What happy-dom lacks, stubbed: SecurityPolicyViolationEvent (built from the real Chromium
// fixtures), a recording sendBeacon/fetch (happy-dom's sendBeacon really fetches), a settable
// visibilityState, and the fixture page's DOM.
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, vi } from 'vitest';
import type { SdkBatch } from '@csp-lens/schema';

// node:path, not `new URL(…)`: in happy-dom the global URL is the DOM's, which node:url rejects.
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const FIXTURES = resolve(ROOT, 'test/fixtures/chromium-156') + '/';
export const PAGE_URL = 'https://127.0.0.1:8811/p?run=a_uri-mwr10p63&mode=enforce&rep=uri';
export const ENDPOINT = 'https://127.0.0.1:8812/csp/sdk';

const FIELDS = [
  'documentURI', 'referrer', 'blockedURI', 'effectiveDirective', 'violatedDirective', 'originalPolicy',
  'sourceFile', 'sample', 'disposition', 'statusCode', 'lineNumber', 'columnNumber',
] as const;
type Fields = Record<(typeof FIELDS)[number], string | number>;
export type Fixture = Fields & { target: { kind: string; id?: string }; candidates?: unknown[] };

export function fixture(type: string, mode = 'enforce'): Fixture {
  return JSON.parse(readFileSync(`${FIXTURES}${mode}/event-${type}.json`, 'utf8'));
}

/** The fields the SDK copies into each event (all twelve but originalPolicy, which goes in page.policies). */
/** The img fixture with a distinct blocked URL per `n`: a violation of its own each time. */
export const img = (n: number, extra = '') => ({
  ...fixture('img'),
  blockedURI: `https://127.0.0.1:8813/i/${n}.png?${extra}`,
});

export function fieldsOf(fix: Partial<Fixture>) {
  return Object.fromEntries(FIELDS.filter((k) => k !== 'originalPolicy').map((k) => [k, fix[k]]));
}

/** Like the real one: the fields are prototype getters, so spreading the event loses them. */
export class FakeSecurityPolicyViolationEvent extends Event {
  _init: Partial<Fields>;
  constructor(type: string, init: Partial<Fields> = {}, trusted = true) {
    super(type, { bubbles: true, composed: true });
    this._init = init;
    // Events a script dispatches are untrusted; the browser's are not.
    Object.defineProperty(this, 'isTrusted', { value: trusted });
  }
}
for (const k of FIELDS) {
  Object.defineProperty(FakeSecurityPolicyViolationEvent.prototype, k, {
    get(this: FakeSecurityPolicyViolationEvent) {
      return this._init[k] ?? (/Number|statusCode/.test(k) ? 0 : '');
    },
  });
}

/** Dispatches a fixture's event where Chromium did: on its element, else on the document. */
export function violate(fix: Partial<Fixture>, opts: { trusted?: boolean; target?: EventTarget } = {}) {
  const { target, candidates, ...fields } = fix;
  const e = new FakeSecurityPolicyViolationEvent('securitypolicyviolation', fields as Fields, opts.trusted ?? true);
  const on = opts.target ?? (target?.id ? document.getElementById(target.id) : null) ?? document;
  on.dispatchEvent(e);
  return e;
}

export interface Sent {
  via: 'beacon' | 'fetch';
  url: string;
  body: string;
  init?: RequestInit;
}

export const sent: Sent[] = [];
export const net = { beacon: true as boolean | 'throw' };
let visibility: DocumentVisibilityState = 'visible';

/** The parsed batches, in the order they left. */
export const batches = (): SdkBatch[] => sent.map((s) => JSON.parse(s.body));
export const events = () => batches().flatMap((b) => b.events);

export function setVisibility(state: DocumentVisibilityState) {
  visibility = state;
  document.dispatchEvent(new Event('visibilitychange'));
}

export const pagehide = () => window.dispatchEvent(new Event('pagehide'));

/** Installs the stubs for every test of the importing file and stops the SDK after each. */
export function setup() {
  beforeEach(() => {
    sent.length = 0;
    net.beacon = true;
    visibility = 'visible';
    const hd = (window as unknown as { happyDOM: { setURL(u: string): void; settings: Record<string, unknown> } }).happyDOM;
    hd.setURL(PAGE_URL);
    // The mirrored page's <script src>/<link href> must not load, nor log that they did not.
    hd.settings.handleDisabledFileLoadingAsSuccess = true;
    Object.defineProperty(globalThis, 'SecurityPolicyViolationEvent', {
      value: FakeSecurityPolicyViolationEvent, configurable: true, writable: true,
    });
    Object.defineProperty(document, 'visibilityState', { get: () => visibility, configurable: true });
    Object.defineProperty(navigator, 'sendBeacon', {
      configurable: true,
      value: vi.fn((url: string, body: string) => {
        if (net.beacon === 'throw') throw new TypeError('sendBeacon broke');
        if (net.beacon) sent.push({ via: 'beacon', url, body });
        return net.beacon;
      }),
    });
    vi.stubGlobal('fetch', vi.fn(async (url: string, init: RequestInit) => {
      sent.push({ via: 'fetch', url, body: String(init.body), init });
      return new Response(null, { status: 204 });
    }));
  });
  afterEach(() => {
    // Listeners on the shared document leak between tests: stop whatever instance is running.
    const g = window as unknown as { __cspLens?: { stop?(): void } };
    g.__cspLens?.stop?.();
    g.__cspLens = undefined;
    vi.useRealTimers();
    vi.unstubAllGlobals();
    vi.restoreAllMocks();
    document.head.innerHTML = '';
    document.body.innerHTML = '';
  });
}

/** The elements of fixtures/chromium-156/page.html, without its scripts' bodies. */
export function buildPage() {
  document.head.innerHTML = `
<link id="v-ext-css" rel="stylesheet" href="https://127.0.0.1:8813/static/s.css?css=1&k=v">
<style id="v-style-elem">body { font-family: monospace; } /* inline style element, longer than forty characters */</style>`;
  // srcdoc="" keeps happy-dom from trying to load the frames; the SDK only reads src.
  document.body.innerHTML = `
<h1 id="title">CSP probe</h1>
<script id="v-ext-script" src="https://127.0.0.1:8813/static/x.js?ext=1&token=abc"></script>
<script id="v-inline-script">window.__inlineRan = 'inline script without nonce: sample should be truncated at 40 chars';</script>
<div id="v-style-attr" style="color: red; background: yellow; border: 1px solid blue; padding: 3px">styled</div>
<img id="v-img" src="https://127.0.0.1:8813/images/some/very/long/path/segment/photo-1234567890.png?user=alice&token=SECRET-TOKEN-0123456789&utm_source=probe#frag" alt="">
<img id="v-img-dup" src="https://127.0.0.1:8813/images/some/very/long/path/segment/photo-1234567890.png?user=alice&token=SECRET-TOKEN-0123456789&utm_source=probe#frag" alt="">
<img id="v-img-lh" src="https://localhost:8813/img2/path.png?q=localhost" alt="">
<img id="v-img-redirect" src="/redir?to=https%3A%2F%2F127.0.0.1%3A8813%2Fredirected%2Fsecret%2Fpath.png%3Fk%3Dv%26token%3DREDIR" alt="">
<img id="ok-img" src="/static/ok.png" alt="">
<iframe id="v-iframe" src="https://127.0.0.1:8813/frame.html?f=1&secret=frm" srcdoc=""></iframe>
<iframe id="sink" name="sink" src="about:blank" srcdoc=""></iframe>
<form id="v-form" action="https://127.0.0.1:8813/submit?form=1" method="post" target="sink"><input name="a" value="b"></form>
<div id="v-onclick" onclick="window.__clicked = 'inline event handler attribute'">click</div>`;
  const im = document.createElement('img');
  im.id = 'v-dyn-img';
  im.src = 'https://127.0.0.1:8813/dyn/created-by-script.png?d=1';
  document.body.appendChild(im);
}
