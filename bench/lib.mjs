// Process plumbing shared by run.mjs and the torture tests: start a server as a child process and
// wait for its URL, run the load generator in another, read /proc for memory.
import { spawn } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The read token of every receiver the benchmarks and the torture tests start. */
export const TOKEN = 'bench-token-0123456789abcdef';
export const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const CLI = fileURLToPath(new URL('../packages/receiver/bin/csp-lens.js', import.meta.url));
const LOAD = fileURLToPath(new URL('./load.mjs', import.meta.url));

/**
 * Starts `node ...args` and resolves once a stdout line matches `ready` (its first group is the
 * URL). `stop()` sends SIGTERM and waits (SIGKILL after `graceMs`); `kill()` is kill -9.
 */
export function startProcess(args, { ready = /(http:\/\/127\.0\.0\.\d+:\d+)/, env = {}, timeoutMs = 20_000, nodeArgs = [] } = {}) {
  const child = spawn(process.execPath, [...nodeArgs, ...args], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr = (stderr + d).slice(-4000)));
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  return new Promise((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => fail(new Error(`timed out starting ${args.join(' ')}: ${stderr}`)), timeoutMs);
    const fail = (e) => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(e);
    };
    const early = (code) => fail(new Error(`${args.join(' ')} exited (${code}) before it was ready: ${stderr}`));
    child.once('exit', early);
    child.stdout.on('data', function onData(d) {
      buf += d;
      const m = buf.match(ready);
      if (!m) return;
      clearTimeout(timer);
      child.off('exit', early);
      child.stdout.off('data', onData);
      child.stdout.resume();
      resolve({
        child,
        pid: child.pid,
        url: m[1],
        exited,
        stderr: () => stderr,
        kill: async () => {
          if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
          return exited;
        },
        stop: async (graceMs = 15_000) => {
          if (child.exitCode !== null || child.signalCode !== null) return exited;
          child.kill('SIGTERM');
          const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
          const r = await exited;
          clearTimeout(t);
          return r;
        },
      });
    });
  });
}

/** `csp-lens serve` on 127.0.0.1, an ephemeral port, the given db; resolves with the base URL. `cli`: another checkout's. */
export function startReceiver(db, { maxRecords = 10_000, rateLimit = 0, extra = [], env, nodeArgs, cli = CLI } = {}) {
  return startProcess(
    [cli, 'serve', '--port', '0', '--host', '127.0.0.1', '--db', db, '--rate-limit', String(rateLimit), '--max-records', String(maxRecords), '--token', TOKEN, ...extra],
    { ready: /receiving at (http:\/\/127\.0\.0\.1:\d+)\/csp\/report/, env, nodeArgs },
  );
}

/** csp-lens with the journal on, as bench/servers/csp-lens.mjs embeds it; `dist`: another build of the receiver. */
export function startJournalReceiver(db, { maxRecords = 10_000, rateLimit = 0, checkpointMs = 30_000, nodeArgs, dist } = {}) {
  return startProcess([fileURLToPath(new URL('./servers/csp-lens.mjs', import.meta.url)), db, String(maxRecords), String(rateLimit), String(checkpointMs)], {
    ready: /receiving at (http:\/\/127\.0\.0\.1:\d+)\/csp\/report/,
    nodeArgs,
    env: dist ? { CSP_LENS_DIST: dist } : {},
  });
}

/** Runs bench/load.mjs in its own process; calls `onLine` for each JSON line, resolves with all. */
export function runLoad(opts, onLine = () => {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [LOAD, JSON.stringify(opts)], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
    const lines = [];
    let buf = '';
    child.stdout.on('data', (d) => {
      buf += d;
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = JSON.parse(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
        lines.push(line);
        onLine(line);
      }
    });
    child.once('exit', (code) => (code === 0 ? resolve(lines) : reject(new Error(`load generator exited with ${code}`))));
  });
}

/** Resident and peak resident memory of a process, in bytes (Linux /proc). */
export function memoryOf(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (name) => Number(status.match(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm'))?.[1] ?? 0) * 1024;
  return { rss: kb('VmRSS'), peak: kb('VmHWM') };
}

export const sizeOf = (file) => {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
};

export const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

export const quantile = (xs, q) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
};
