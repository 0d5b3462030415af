// The noise rules as data: what each drops and why, read by filter.ts. The first rule that matches
// names the reason a report is counted under (Stats.filtered). Sources: Sentry's
// DEFAULT_DISALLOWED_SOURCES (sentry/interfaces/security.py), NelmioSecurityBundle's noise
// detectors (Schemes, Domains, InjectedScripts), go-csp-collector's and django-csp-reports'
// ignore lists, and current browsers' own schemes.
import { EXTENSION_SCHEMES } from './classify.js';

export interface NoiseRuleData {
  name: string;
  /** The blocked URL's or source file's scheme is one of these (a URL, or the scheme alone). */
  schemes?: readonly string[];
  /** The blocked URL's or source file's host is one of these (`*.x`: x and every host below it). */
  hosts?: readonly string[];
  /** With `hosts`: the document's host counts too. */
  documents?: boolean;
  /** The document URL starts with none of these (case-insensitive). */
  documentsNotStartingWith?: readonly string[];
  /** The blocked URL starts with one of these (case-insensitive). */
  blockedPrefixes?: readonly string[];
  /** A script sample containing one of `contains`, with one of `blocked`, under one of `directives`. */
  samples?: { blocked: readonly string[]; directives: readonly string[]; contains: readonly string[] };
  /** Off unless asked for (createNoiseFilter's `dropLocalhost`). */
  optIn?: boolean;
}

export const NOISE_RULES: readonly NoiseRuleData[] = [
  { name: 'browser-extension', schemes: [...EXTENSION_SCHEMES] },
  {
    // Browser-internal pages and resources, and the schemes native helpers and in-app browsers
    // inject into pages (a report from them is the app's, not the site's).
    name: 'browser-internal',
    schemes: [
      'about', 'chrome', 'chrome-search', 'chrome-untrusted', 'chrome-error', 'devtools', 'view-source',
      'edge', 'opera', 'brave', 'vivaldi', 'resource', 'jar', 'moz-icon', 'moz-nullprincipal',
      'webkit-masked-url', 'safari-resource', 'x-apple-content', 'ms-appx', 'ms-appx-web', 'gsa',
      'chromeinvokeimmediate', 'chromenull', 'webviewprogressproxy', 'tmtbff', 'mbinit', 'symres',
      'android-webview-video-poster',
      // Internet Explorer's res://ieframe.dll; the bare android-webview; `none`, sent by old mobile
      // browsers (Nelmio)
      'res', 'android-webview', 'none',
      // Native bridges of in-app browsers: Chrome for iOS (chromeinvoke), Maxthon (mx, mxjscall),
      // WebViewJavascriptBridge (wvjbscheme), Baidu (nativebaiduhd, bdvideo), Weibo (sinaweibo),
      // WeChat (weixinping), Sogou (sraf), webview progress trackers (webviewprogress)
      'chromeinvoke', 'mx', 'mxjscall', 'wvjbscheme', 'nativebaiduhd', 'bdvideo', 'sinaweibo', 'sraf',
      'webviewprogress', 'weixinping',
    ],
  },
  // about:blank, about:srcdoc, extension pages, file:, chrome-error://chromewebdata: not a site.
  { name: 'non-web-document', documentsNotStartingWith: ['http://', 'https://'] },
  // Chromium's own error page, reported as a data: URL by older versions.
  { name: 'browser-error-page', blockedPrefixes: ['data:text/html,chromewebdata'] },
  {
    // Adware, toolbars, proxies, security suites and shopping add-ons that inject scripts. Sentry also
    // lists `localhost`: that is the opt-in rule below (developers and our demo run there).
    name: 'injected-script',
    hosts: [
      '*.metrext.com', 'static.image2play.com', '*.tlscdn.com', '73a5b0806e464be8bd4e694c744624f0.com',
      '020dfefc4ac745dab7594f2f771c1ded.com', '*.superfish.com', 'addons.mozilla.org', 'v.zilionfast.in',
      'widgets.amung.us', 'xls.searchfun.in', 'istatic.datafastguru.info', 'resultshub-a.akamaihd.net',
      'pulseadnetwork.com', 'gateway.zscalertwo.net', 'www.passpack.com', 'middlerush-a.akamaihd.net',
      'www.websmartcenter.com', 'a.linkluster.com', 'saveyoutime.ru', 'cdncache-a.akamaihd.net',
      'x.rafomedia.com', 'savingsslider-a.akamaihd.net', 'injections.adguard.com', 'icontent.us',
      'amiok.org', 'connectionstrenth.com', 'siteheart.net', 'netanalitics.space', 'printapplink.com',
      'godlinkapp.com', 'devappstor.com', 'hoholikik.club', 'smartlink.cool', 'promfflinkdev.com',
      // Kaspersky's injected web protection, the shopping add-ons behind cmptch.com and
      // jollywallet.com (Nelmio), and Trusteer Rapport's message channel (https://nikkomsgchannel/e?…,
      // a connect-src to a host that is no host: csp-lens stored it as a critical exfiltration)
      '*.kaspersky-labs.com', '*.cmptch.com', '*.jollywallet.com', 'nikkomsgchannel',
    ],
  },
  {
    // Inline scripts that extensions inject, told by their first characters: old Firefox reported
    // them as blocked-uri "self" (Nelmio's InjectedScriptsNoiseDetector). A site's own inline
    // script has blocked-uri "inline" in every current browser, so it never matches.
    name: 'extension-signature',
    samples: {
      blocked: ['self', "'self'"],
      directives: ['script-src', 'script-src-elem'],
      contains: [
        'var lastpass_it', // LastPass
        'AG_onLoad', // AdGuard
        'var BlockAdBlo', // BlockAdBlock
        'var FuckAdBlo', // FuckAdBlock
        'installGlobalHook(window)', // React DevTools
        'var event_id', // (Nelmio's list: an injected tracker)
      ],
    },
  },
  {
    // Every peer that has a rule for it drops localhost; csp-lens keeps it unless asked
    // (`--drop-localhost`): it is where developers and the demo run.
    name: 'localhost',
    hosts: ['localhost', '*.localhost', '127.0.0.1', '[::1]'],
    documents: true,
    optIn: true,
  },
];
