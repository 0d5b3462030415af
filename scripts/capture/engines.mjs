// Real browsers behind one small interface: Debian's Chromium (playwright-core), Firefox ESR
// (puppeteer-core over WebDriver BiDi) and WebKitGTK's MiniBrowser (selenium-webdriver against
// WebKitWebDriver, on an Xvfb display of its own). Each engine runs headless on a fresh profile in a
// temp dir that close() deletes, and accepts the self-signed certificate the servers make at start.
// Nothing is ever downloaded: a missing browser is an error naming the Debian package.
//
//   const engine = await launch('firefox');
//   const page = await engine.open(url);
//   await page.waitFor(() => window.done === true);
//   const x = await page.evaluate((a) => a + 1, 1);
//   await page.close(); // pagehide runs: the SDK flushes
//   await engine.close(); // browser, driver, Xvfb and profile gone, even after a failure
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { majorOf, need, onDeath, poll, removeProfile } from './common.mjs';
import { launchWebKit } from './webkit.mjs';

export { launchWebKit, MINIBROWSER, WEBKIT_DRIVER, XVFB } from './webkit.mjs';

export const CHROMIUM = '/usr/bin/chromium';
export const FIREFOX = '/usr/bin/firefox-esr';
export const ENGINES = ['chromium', 'firefox', 'webkit'];

// --short-reporting-delay: report-to uploads every ~100 ms instead of on a 60 s tick;
// --ignore-certificate-errors: the certificate the demo and the capture servers make at start.
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--short-reporting-delay',
  '--ignore-certificate-errors',
];

/** launch('chromium' | 'firefox' | 'webkit') */
export function launch(name) {
  if (name === 'chromium') return launchChromium();
  if (name === 'firefox') return launchFirefox();
  if (name === 'webkit') return launchWebKit();
  throw new Error(`csp-lens: unknown engine ${JSON.stringify(name)}; one of ${ENGINES.join(', ')}`);
}

export async function launchChromium() {
  need(CHROMIUM, 'chromium', 'the real-browser tests and captures need it; no browser is downloaded');
  const { chromium } = await import('playwright-core');
  const profile = await mkdtemp(join(tmpdir(), 'csp-lens-chromium-'));
  // playwright ends the browser itself when this process exits or gets a signal; the profile is ours.
  const unwatch = onDeath(() => removeProfile(profile));
  let context;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_ARGS,
      ignoreHTTPSErrors: true,
    });
  } catch (err) {
    await rm(profile, { recursive: true, force: true });
    unwatch();
    throw err;
  }
  // The wrapper script prints a shell warning on stderr; the version is on stdout.
  const out = execFileSync(CHROMIUM, ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  const version = /(\d+(?:\.\d+)+)/.exec(out)?.[1] ?? 'unknown';
  let closed;
  return {
    name: 'chromium',
    profile,
    version,
    major: majorOf(version),
    context,
    async open(url) {
      const p = await context.newPage();
      const errors = [];
      p.on('pageerror', (e) => errors.push(String(e)));
      const page = {
        errors,
        // Playwright passes one argument: more go as a serialized call.
        evaluate: (fn, ...args) => (args.length <= 1 ? p.evaluate(fn, args[0]) : p.evaluate(`(${fn})(...${JSON.stringify(args)})`)),
        waitFor: (fn, opts) => poll(page, fn, [], opts),
        goto: async (u) => void (await p.goto(u, { waitUntil: 'load' })),
        url: async () => p.url(),
        close: () => p.close(),
        native: p,
      };
      await page.goto(url);
      return page;
    },
    close() {
      closed ??= (async () => {
        try {
          await context.close();
        } finally {
          await rm(profile, { recursive: true, force: true });
          unwatch();
        }
      })();
      return closed;
    },
  };
}

export async function launchFirefox() {
  need(FIREFOX, 'firefox-esr', 'the Firefox tests and captures need it; no browser is downloaded');
  const { default: puppeteer } = await import('puppeteer-core');
  const profile = await mkdtemp(join(tmpdir(), 'csp-lens-firefox-'));
  // puppeteer ends the browser itself when this process exits or gets a signal; the profile is ours.
  const unwatch = onDeath(() => removeProfile(profile));
  let browser;
  try {
    browser = await puppeteer.launch({
      browser: 'firefox',
      executablePath: FIREFOX,
      headless: true,
      userDataDir: profile,
      acceptInsecureCerts: true,
      protocol: 'webDriverBiDi',
    });
  } catch (err) {
    await rm(profile, { recursive: true, force: true });
    unwatch();
    throw err;
  }
  const version = (await browser.version()).replace(/^[^/]*\//, '');
  let closed;
  return {
    name: 'firefox',
    profile,
    version,
    major: majorOf(version),
    browser,
    async open(url) {
      const p = await browser.newPage();
      const errors = [];
      // Over BiDi, Firefox's console errors for blocked loads arrive as page errors too: those are
      // the violations themselves, not exceptions of the page.
      p.on('pageerror', (e) => {
        if (!/^Content-Security-Policy: /.test(e?.message ?? '')) errors.push(String(e));
      });
      const page = {
        errors,
        evaluate: (fn, ...args) => p.evaluate(fn, ...args),
        waitFor: (fn, opts) => poll(page, fn, [], opts),
        // Firefox's remote agent now and then answers a navigation of a fresh tab with "Address
        // rejected" (twice in ten full test runs on a loaded machine) while the page goes on
        // loading: a second visit would send every violation twice (seen: 20 extra records). So
        // the tab is watched for the page (its URL, then its load) for up to 10 s, and asked again
        // only if it stays blank.
        goto: async (u) => {
          for (let attempt = 1; ; attempt++) {
            try {
              return void (await p.goto(u, { waitUntil: 'load' }));
            } catch (e) {
              if (attempt >= 3 || !/Address rejected/.test(e?.message ?? '')) throw e;
              const loaded = await poll(page, () => location.href !== 'about:blank' && document.readyState === 'complete', [], { timeoutMs: 10_000 }).then(
                () => true,
                () => false,
              );
              if (loaded) return;
            }
          }
        },
        url: async () => p.url(),
        // A tab closed over BiDi lost the beacon sent from pagehide in 5 of 10 loads (measured; one
        // sent on visibilitychange always arrived). Leaving the page first runs the same pagehide,
        // and its beacons arrived 6 of 6.
        close: async () => {
          await p.goto('about:blank', { waitUntil: 'load' }).catch(() => {});
          await p.close();
        },
        native: p,
      };
      await page.goto(url);
      return page;
    },
    close() {
      closed ??= (async () => {
        try {
          await browser.close();
        } finally {
          await rm(profile, { recursive: true, force: true });
          unwatch();
        }
      })();
      return closed;
    },
  };
}

