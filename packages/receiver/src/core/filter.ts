import type { NormalizedViolation } from '@csp-lens/schema';
import { EXTENSION_SCHEMES } from './classify.js';
import { schemeOf } from './fields.js';
import { urlParts } from './url.js';
import type { NoiseFilter } from './types.js';

/** A noise rule: `name` is the reason counted in the store when `test` drops a violation. */
export interface NoiseRule {
  name: string;
  test(v: NormalizedViolation): boolean;
}

/**
 * Browser-internal pages and resources, and schemes of injected native helpers, from Sentry's
 * DEFAULT_DISALLOWED_SOURCES (sentry/interfaces/security.py) plus current browsers' own schemes.
 */
const INTERNAL_SCHEMES = [
  'about', 'chrome', 'chrome-search', 'chrome-untrusted', 'chrome-error', 'devtools', 'view-source',
  'edge', 'opera', 'brave', 'vivaldi', 'resource', 'jar', 'moz-icon', 'moz-nullprincipal',
  'webkit-masked-url', 'safari-resource', 'x-apple-content', 'ms-appx', 'ms-appx-web', 'gsa',
  'chromeinvokeimmediate', 'chromenull', 'webviewprogressproxy', 'tmtbff', 'mbinit', 'symres',
  'android-webview-video-poster',
];

/**
 * Hosts of adware, toolbars and proxies that inject scripts into pages, from Sentry's list
 * (`*.` = the domain and its subdomains). Sentry also lists `localhost`: left out on purpose,
 * it is where developers and our demo run.
 */
const INJECTED_HOSTS = [
  '*.metrext.com', 'static.image2play.com', '*.tlscdn.com', '73a5b0806e464be8bd4e694c744624f0.com',
  '020dfefc4ac745dab7594f2f771c1ded.com', '*.superfish.com', 'addons.mozilla.org', 'v.zilionfast.in',
  'widgets.amung.us', 'xls.searchfun.in', 'istatic.datafastguru.info', 'resultshub-a.akamaihd.net',
  'pulseadnetwork.com', 'gateway.zscalertwo.net', 'www.passpack.com', 'middlerush-a.akamaihd.net',
  'www.websmartcenter.com', 'a.linkluster.com', 'saveyoutime.ru', 'cdncache-a.akamaihd.net',
  'x.rafomedia.com', 'savingsslider-a.akamaihd.net', 'injections.adguard.com', 'icontent.us',
  'amiok.org', 'connectionstrenth.com', 'siteheart.net', 'netanalitics.space', 'printapplink.com',
  'godlinkapp.com', 'devappstor.com', 'hoholikik.club', 'smartlink.cool', 'promfflinkdev.com',
];

/** Drops violations whose blockedURL or sourceFile uses one of `schemes` (URL or scheme-only). */
export function schemeRule(name: string, schemes: Iterable<string>): NoiseRule {
  const set = new Set([...schemes].map((s) => s.toLowerCase()));
  const hit = (u: string | undefined) => set.has(schemeOf(u) ?? '');
  return { name, test: (v) => hit(v.blockedURL) || hit(v.sourceFile) };
}

/** Drops violations whose blockedURL or sourceFile is on one of `hosts` (`*.x`: x and below). */
export function hostRule(name: string, hosts: Iterable<string>): NoiseRule {
  const exact = new Set<string>();
  const suffixes: string[] = [];
  for (const h of hosts) {
    const host = h.toLowerCase();
    if (host.startsWith('*.')) suffixes.push(host.slice(1)), exact.add(host.slice(2));
    else exact.add(host);
  }
  const hit = (u: string | undefined) => {
    const parts = u === undefined ? undefined : urlParts(u);
    if (!parts) return false;
    const host = parts.hostname;
    return exact.has(host) || suffixes.some((s) => host.endsWith(s));
  };
  return { name, test: (v) => hit(v.blockedURL) || hit(v.sourceFile) };
}

export const DEFAULT_NOISE_RULES: readonly NoiseRule[] = [
  schemeRule('browser-extension', EXTENSION_SCHEMES),
  schemeRule('browser-internal', INTERNAL_SCHEMES),
  {
    // about:blank, about:srcdoc, extension pages, file:, chrome-error://chromewebdata: not a site.
    name: 'non-web-document',
    test: (v) => !/^https?:\/\//i.test(v.documentURL),
  },
  {
    // Chromium's own error page, reported as a data: URL by older versions.
    name: 'browser-error-page',
    test: (v) => v.blockedURL?.toLowerCase().startsWith('data:text/html,chromewebdata') === true,
  },
  hostRule('injected-script', INJECTED_HOSTS),
];

/**
 * The default rules, minus `remove` (by name), plus `add`. Returns the name of the first rule that
 * drops a violation. Misconfiguration throws at start; a rule that throws on a report keeps it.
 */
export function createNoiseFilter(options: { add?: NoiseRule[]; remove?: string[] } = {}): NoiseFilter {
  const names = new Set(DEFAULT_NOISE_RULES.map((r) => r.name));
  for (const name of options.remove ?? []) {
    if (!names.has(name)) throw new Error(`csp-lens: unknown noise rule "${name}" (known: ${[...names].join(', ')})`);
  }
  const removed = new Set(options.remove);
  const rules = DEFAULT_NOISE_RULES.filter((r) => !removed.has(r.name));
  for (const rule of options.add ?? []) {
    if (typeof rule?.name !== 'string' || !rule.name || typeof rule.test !== 'function') {
      throw new Error('csp-lens: a noise rule needs a name and a test(violation) function');
    }
    if (rules.some((r) => r.name === rule.name)) throw new Error(`csp-lens: duplicate noise rule "${rule.name}"`);
    rules.push(rule);
  }
  return (v) => {
    for (const rule of rules) {
      try {
        if (rule.test(v)) return rule.name;
      } catch {
        // A buggy custom rule must not turn a report into a 5xx.
      }
    }
    return undefined;
  };
}
