// What the engine launchers share: the missing-browser error, the page poll, the cleanup at death.
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';

export const need = (path, pkg, what) => {
  if (!existsSync(path)) {
    throw new Error(`csp-lens: ${path} is missing. Install the Debian package: apt-get install -y ${pkg} (${what})`);
  }
};

/** Polls `fn` in the page until it returns a truthy value; navigations in between are retried. */
export async function poll(page, fn, args, { timeoutMs = 30_000, intervalMs = 100 } = {}) {
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

export const majorOf = (version, parts = 1) => version.split('.').slice(0, parts).join('.');


const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/**
 * Runs `fn` (synchronous: nothing async runs then) if this process exits, or is ended by a signal
 * (no 'exit' event then; the signal is raised again afterwards for its default action), before the
 * returned function is called: a crashed or interrupted test leaves no browser, driver or Xvfb.
 */
export function onDeath(fn) {
  let done = false;
  const once = () => {
    if (done) return;
    done = true;
    try {
      fn();
    } catch {}
  };
  const onSignal = (signal) => {
    once();
    off();
    process.kill(process.pid, signal);
  };
  const off = () => {
    process.off('exit', once);
    for (const s of SIGNALS) process.off(s, onSignal);
  };
  process.once('exit', once);
  for (const s of SIGNALS) process.once(s, onSignal);
  return off;
}

/**
 * Deletes a browser profile when this process dies: first every process still using it (a browser
 * that got the same signal is still shutting down, writing into it: removing the folder under it
 * left it behind, recreated), then the folder, retried while files vanish under the removal.
 */
export function removeProfile(profile) {
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    let cmdline = '';
    try {
      cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    } catch {
      continue; // gone meanwhile
    }
    if (Number(pid) !== process.pid && cmdline.includes(profile)) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {}
    }
  }
  rmSync(profile, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
}
