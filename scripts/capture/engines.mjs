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
import { spawn, execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const CHROMIUM = '/usr/bin/chromium';
export const FIREFOX = '/usr/bin/firefox-esr';
export const WEBKIT_DRIVER = '/usr/bin/WebKitWebDriver';
export const MINIBROWSER = '/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser';
export const XVFB = '/usr/bin/Xvfb';
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

const need = (path, pkg, what) => {
  if (!existsSync(path)) {
    throw new Error(`csp-lens: ${path} is missing. Install the Debian package: apt-get install -y ${pkg} (${what})`);
  }
};

/** launch('chromium' | 'firefox' | 'webkit') */
export function launch(name) {
  if (name === 'chromium') return launchChromium();
  if (name === 'firefox') return launchFirefox();
  if (name === 'webkit') return launchWebKit();
  throw new Error(`csp-lens: unknown engine ${JSON.stringify(name)}; one of ${ENGINES.join(', ')}`);
}

/** Polls `fn` in the page until it returns a truthy value; navigations in between are retried. */
async function poll(page, fn, args, { timeoutMs = 30_000, intervalMs = 100 } = {}) {
  const end = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const v = await page.evaluate(fn, ...args);
      if (v) return v;
      last = undefined;
    } catch (err) {
      last = err; // the page navigated or was not ready yet
    }
    if (Date.now() > end) {
      throw new Error(`csp-lens: timed out after ${timeoutMs} ms waiting for ${String(fn).slice(0, 120)}${last ? ` (${last.message ?? last})` : ''}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

const majorOf = (version, parts = 1) => version.split('.').slice(0, parts).join('.');

export async function launchChromium() {
  need(CHROMIUM, 'chromium', 'the real-browser tests and captures need it; no browser is downloaded');
  const { chromium } = await import('playwright-core');
  const profile = await mkdtemp(join(tmpdir(), 'csp-lens-chromium-'));
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
    throw err;
  }
  // The wrapper script prints a shell warning on stderr; the version is on stdout.
  const out = execFileSync(CHROMIUM, ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  const version = /(\d+(?:\.\d+)+)/.exec(out)?.[1] ?? 'unknown';
  let closed;
  return {
    name: 'chromium',
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
    throw err;
  }
  const version = (await browser.version()).replace(/^[^/]*\//, '');
  let closed;
  return {
    name: 'firefox',
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
          await browser.close();
        } finally {
          await rm(profile, { recursive: true, force: true });
        }
      })();
      return closed;
    },
  };
}

/** A child process in a process group of its own, so that it and everything it started can be ended. */
function spawnGroup(cmd, args, options) {
  const child = spawn(cmd, args, { ...options, detached: true });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  // A crashed or interrupted test still ends what it started (synchronously: 'exit' runs no async code).
  const onExit = () => {
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {}
  };
  process.once('exit', onExit);
  return {
    child,
    async stop() {
      process.off('exit', onExit);
      if (child.exitCode !== null || child.signalCode !== null) return;
      try {
        process.kill(-child.pid, 'SIGTERM');
      } catch {
        return;
      }
      const timer = setTimeout(() => {
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {}
      }, 3000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Xvfb on the first free display (-displayfd writes its number back). */
async function startXvfb() {
  need(XVFB, 'xvfb', 'WebKitGTK needs a display');
  const x = spawnGroup(XVFB, ['-displayfd', '3', '-nolisten', 'tcp', '-screen', '0', '1280x1024x24'], {
    stdio: ['ignore', 'ignore', 'pipe', 'pipe'],
  });
  let err = '';
  x.child.stderr.on('data', (c) => (err += c));
  try {
    const display = await new Promise((resolve, reject) => {
      let out = '';
      x.child.stdio[3].on('data', (c) => {
        out += c;
        if (out.includes('\n')) resolve(`:${out.trim()}`);
      });
      x.child.once('exit', (code) => reject(new Error(`csp-lens: Xvfb exited (${code}): ${err.slice(-500)}`)));
      setTimeout(() => reject(new Error('csp-lens: Xvfb did not start in 10 s')), 10_000);
    });
    return { display, stop: x.stop };
  } catch (e) {
    await x.stop();
    throw e;
  }
}

const freePort = () =>
  new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });

async function waitForDriver(url, driver, timeoutMs = 15_000) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (driver.child.exitCode !== null) throw new Error(`csp-lens: WebKitWebDriver exited (${driver.child.exitCode})`);
    try {
      const res = await fetch(`${url}/status`);
      if (res.ok) return;
    } catch {}
    if (Date.now() > end) throw new Error(`csp-lens: WebKitWebDriver did not answer on ${url} in ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function launchWebKit() {
  need(WEBKIT_DRIVER, 'webkit2gtk-driver', 'the WebKit tests and captures need it');
  need(MINIBROWSER, 'webkit2gtk-driver', 'MiniBrowser comes with libwebkit2gtk-4.1');
  const { Builder } = await import('selenium-webdriver');
  const profile = await mkdtemp(join(tmpdir(), 'csp-lens-webkit-'));
  const stops = [];
  const cleanup = async () => {
    for (const stop of stops.splice(0).reverse()) {
      try {
        await stop();
      } catch {}
    }
    await rm(profile, { recursive: true, force: true });
  };
  try {
    const xvfb = await startXvfb();
    stops.push(xvfb.stop);
    const port = await freePort();
    // MiniBrowser inherits this environment: its cookies, caches and storage land in the profile dir.
    const env = {
      ...process.env,
      DISPLAY: xvfb.display,
      HOME: profile,
      XDG_CONFIG_HOME: join(profile, 'config'),
      XDG_CACHE_HOME: join(profile, 'cache'),
      XDG_DATA_HOME: join(profile, 'data'),
    };
    const driverProc = spawnGroup(WEBKIT_DRIVER, [`--port=${port}`, '--host=local'], { env, stdio: 'ignore' });
    stops.push(driverProc.stop);
    const server = `http://127.0.0.1:${port}`;
    await waitForDriver(server, driverProc);
    // MiniBrowser 2.50 (GTK 3) has no --headless: it draws into the Xvfb display above instead.
    const caps = {
      browserName: 'MiniBrowser',
      acceptInsecureCerts: true,
      'webkitgtk:browserOptions': { binary: MINIBROWSER, args: ['--automation'] },
    };
    const driver = await new Builder().usingServer(server).withCapabilities(caps).build();
    stops.push(() => driver.quit());
    const version = String((await driver.getCapabilities()).get('browserVersion') ?? 'unknown');
    // The session ends with its last window: keep the first one open, pages go in new ones.
    const home = await driver.getWindowHandle();
    // WebDriver has one current window: one command sequence at a time.
    let chain = Promise.resolve();
    const serial = (fn) => {
      const run = chain.then(fn, fn);
      chain = run.catch(() => {});
      return run;
    };
    let closed;
    return {
      name: 'webkit',
      version,
      major: majorOf(version, 2),
      driver,
      async open(url) {
        const handle = await serial(async () => {
          await driver.switchTo().newWindow('tab');
          return driver.getWindowHandle();
        });
        const on = (fn) =>
          serial(async () => {
            await driver.switchTo().window(handle);
            return fn();
          });
        const page = {
          errors: undefined, // WebKitWebDriver reports no page errors
          evaluate: (fn, ...args) =>
            on(async () => {
              const r = await driver.executeAsyncScript(
                `const done = arguments[arguments.length - 1];
                 Promise.resolve().then(() => (${fn})(...${JSON.stringify(args)}))
                   .then((v) => done({ ok: v === undefined ? null : v }), (e) => done({ err: String((e && e.stack) || e) }));`,
              );
              if (r && 'err' in r) throw new Error(r.err);
              return r?.ok ?? undefined;
            }),
          waitFor: (fn, opts) => poll(page, fn, [], opts),
          goto: (u) => on(() => driver.get(u)),
          url: () => on(() => driver.getCurrentUrl()),
          close: () =>
            serial(async () => {
              await driver.switchTo().window(handle);
              await driver.close();
              await driver.switchTo().window(home);
            }),
        };
        await page.goto(url);
        return page;
      },
      close() {
        closed ??= cleanup();
        return closed;
      },
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}
