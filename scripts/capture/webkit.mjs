// WebKitGTK for the tests and captures: MiniBrowser driven by selenium-webdriver through
// WebKitWebDriver, drawing into an Xvfb display of its own (MiniBrowser 2.50, a GTK 3 build, has no
// --headless). Xvfb and the driver each run in a process group of their own, so that close() or a
// crash of the calling process ends them and everything they started (MiniBrowser, its web and
// network processes). See engines.mjs for the interface.
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { majorOf, need, onDeath, poll, removeProfile } from './common.mjs';

export const WEBKIT_DRIVER = '/usr/bin/WebKitWebDriver';
export const MINIBROWSER = '/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser';
export const XVFB = '/usr/bin/Xvfb';

/** A child process in a process group of its own, so that it and everything it started can be ended. */
function spawnGroup(cmd, args, options) {
  const child = spawn(cmd, args, { ...options, detached: true });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const kill = (signal) => {
    try {
      process.kill(-child.pid, signal);
    } catch {}
  };
  const unwatch = onDeath(() => kill('SIGKILL'));
  return {
    child,
    async stop() {
      unwatch();
      if (child.exitCode !== null || child.signalCode !== null) return;
      kill('SIGTERM');
      const timer = setTimeout(() => kill('SIGKILL'), 3000);
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
  const unwatch = onDeath(() => removeProfile(profile));
  const stops = [];
  const cleanup = async () => {
    for (const stop of stops.splice(0).reverse()) {
      try {
        await stop();
      } catch {}
    }
    await rm(profile, { recursive: true, force: true });
    unwatch();
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
      profile,
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
