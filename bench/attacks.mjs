// Issue 12's attacks on the store and the merge, against the built CLI with default flags, with what
// they cost: the live file's size, the receiver's memory, and how long the event loop stalled (the
// slowest answer to a /health probe sent every 20 ms while the attack runs). Not a test (it measures,
// it asserts nothing); run it against any checkout to compare:
//
//   node bench/attacks.mjs [path/to/checkout]      (default: this one; `npm run build` there first)
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { memoryOf, startProcess } from './lib.mjs';

const root = resolve(process.argv[2] ?? fileURLToPath(new URL('..', import.meta.url)));
const CLI = join(root, 'packages/receiver/bin/csp-lens.js');
const T = Date.now();
const UA = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36';

async function receiver(extra = []) {
  const dir = mkdtempSync(join(tmpdir(), 'csp-lens-attack-'));
  const db = join(dir, 'db.json');
  const s = await startProcess([CLI, 'serve', '--port', '0', '--db', db, '--token', 'attack-token-0123456789', ...extra], { timeoutMs: 60_000 });
  return { ...s, db, dir, url: `${s.url}/csp` };
}

const post = (url, body, type) => fetch(url, { method: 'POST', body, headers: { 'content-type': type, 'user-agent': UA } }).then(async (r) => (await r.body?.cancel(), r.status));

/** The slowest /health answer while `work` runs: how long the event loop was not there. */
async function stallDuring(base, work) {
  let worst = 0;
  let done = false;
  const probe = (async () => {
    while (!done) {
      const t0 = performance.now();
      await fetch(`${base}/health`).then((r) => r.body?.cancel()).catch(() => {});
      worst = Math.max(worst, performance.now() - t0);
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  const t0 = performance.now();
  const result = await work();
  const ms = performance.now() - t0;
  done = true;
  await probe;
  return { result, ms, worst };
}

const junk = (len, seed) => Array.from({ length: len }, (_, i) => String.fromCharCode(1 + ((i + seed) % 30))).join('');

function sdkFlood(n) {
  return JSON.stringify({
    v: 1,
    sentAt: T,
    page: {
      id: `pv-${n}`,
      session: junk(128, n),
      url: `https://site.example/${junk(2000, n)}`,
      referrer: `https://ref.example/${junk(2000, n)}`,
      release: junk(128, n),
      env: junk(128, n),
      tags: Object.fromEntries(Array.from({ length: 32 }, (_, i) => [`${junk(60, i)}${i}`, junk(250, n + i)])),
      context: { blob: junk(3900, n) },
      policies: ["img-src 'self'"],
    },
    events: Array.from({ length: 500 }, (_, i) => ({
      t: T, count: 1, documentURI: 'https://site.example/p', blockedURI: `https://cdn.example/${n}/${i}.png`, effectiveDirective: 'img-src',
      violatedDirective: 'img-src', policy: 0, disposition: 'enforce', statusCode: 200, sourceFile: '', lineNumber: 0, columnNumber: 0, sample: '', referrer: '',
    })),
  });
}

const MiB = (n) => `${(n / 2 ** 20).toFixed(1)} MiB`;

async function liveFileAttack() {
  const r = await receiver(['--rate-limit', '0']);
  const statuses = {};
  const { ms, worst } = await stallDuring(r.url, async () => {
    for (let n = 0; n < 16; n++) {
      const s = await post(`${r.url}/sdk`, sdkFlood(n), 'text/plain');
      statuses[s] = (statuses[s] ?? 0) + 1;
    }
  });
  const rss = memoryOf(r.pid).rss;
  const stop = await Promise.race([r.stop().then(() => 'stopped'), new Promise((res) => setTimeout(() => res('no stop within 120 s'), 120_000))]);
  const size = statSync(r.db, { throwIfNoEntry: false })?.size ?? 0;
  // Can it open again?
  let reopen = 'reopened';
  try {
    const again = await startProcess([CLI, 'serve', '--port', '0', '--db', r.db, '--token', 'attack-token-0123456789'], { timeoutMs: 120_000 });
    await again.stop();
  } catch (e) {
    reopen = `does not reopen: ${String(e.message).split('\n')[0].slice(0, 160)}`;
  }
  console.log(`live file: 16 SDK batches of 500 events, ~${MiB(sdkFlood(0).length)} each: ${JSON.stringify(statuses)} in ${(ms / 1000).toFixed(1)} s, slowest /health ${worst.toFixed(0)} ms; RSS ${MiB(rss)}; ${stop}; live file ${MiB(size)}; ${reopen}`);
  rmSync(r.dir, { recursive: true, force: true });
}

async function policyAttack() {
  const r = await receiver(['--rate-limit', '0', '--max-records', '100']);
  const { ms, worst } = await stallDuring(r.url, async () => {
    for (let i = 0; i < 600; i++) {
      const body = JSON.stringify({ 'csp-report': { 'document-uri': `https://site.example/p${i}`, 'effective-directive': 'img-src', 'blocked-uri': 'https://cdn.example/a.png', disposition: 'enforce', 'original-policy': `img-src 'self' https://h${i}.example ${'x'.repeat(16_000)}` } });
      await post(`${r.url}/report`, body, 'application/csp-report');
    }
  });
  await r.stop();
  console.log(`policies: 600 reports with distinct 16 KB policies, --max-records 100: ${(ms / 1000).toFixed(1)} s, slowest /health ${worst.toFixed(0)} ms; live file ${MiB(statSync(r.db).size)}`);
  rmSync(r.dir, { recursive: true, force: true });
}

async function mergeStall() {
  const r = await receiver(['--rate-limit', '0', '--max-records', '30000']);
  const report = (blockedURL) => ({ type: 'csp-violation', age: 0, url: 'https://site.example/p', user_agent: UA, body: { documentURL: 'https://site.example/p', blockedURL, effectiveDirective: 'frame-src', disposition: 'enforce', sourceFile: 'https://site.example/p', lineNumber: 7, columnNumber: 3 } });
  for (let b = 0; b < 10; b++) {
    const batch = Array.from({ length: 1000 }, (_, i) => report(`https://frames.example/${b}/${i}`));
    await post(`${r.url}/report`, JSON.stringify(batch), 'application/reports+json');
  }
  const { ms, worst } = await stallDuring(r.url, () => post(`${r.url}/report`, JSON.stringify([report('https://frames.example')]), 'application/reports+json'));
  const { ms: ms5, worst: worst5 } = await stallDuring(r.url, async () => {
    for (let i = 0; i < 5; i++) await post(`${r.url}/report`, JSON.stringify([report('https://frames.example')]), 'application/reports+json');
  });
  await r.stop();
  console.log(`merge: 10 report-to batches of 1,000 URLs on one origin from one page, then a report cut to that origin: answered in ${ms.toFixed(0)} ms, slowest /health ${worst.toFixed(0)} ms; 5 more: ${ms5.toFixed(0)} ms, slowest /health ${worst5.toFixed(0)} ms`);
  rmSync(r.dir, { recursive: true, force: true });
}

console.log(`attacks against ${root}`);
await mergeStall();
await policyAttack();
await liveFileAttack();
