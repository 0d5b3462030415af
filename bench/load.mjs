// The load generator, always in its own process (run.mjs forks it): autocannon against one URL,
// bodies from bodies.mjs, every request distinct. Prints one JSON line per phase on stdout.
//   node bench/load.mjs '{"url":"http://127.0.0.1:PORT","mode":"mixed","connections":32,"duration":8}'
//   node bench/load.mjs '{"url":…,"mode":"growth","total":1000000,"slices":10,"connections":32}'
import autocannon from 'autocannon';
import { createGenerator, UA } from './bodies.mjs';

const opts = JSON.parse(process.argv[2]);
const headers = { 'user-agent': UA, connection: 'keep-alive' };

/** One autocannon run; `next()` returns the next request. Counts reports sent and statuses. */
async function run({ next, duration, amount, connections = 32 }) {
  let reports = 0;
  // A run of `amount` requests ends on autocannon's one-second tick, not at its last response: its
  // own duration would make a 4.1 s slice look like 5 (±20% in reports/s). Timed here instead.
  let first;
  let last;
  const requests = [
    {
      method: 'POST',
      onResponse() {
        last = performance.now();
      },
      setupRequest(req) {
        first ??= performance.now();
        const r = next();
        reports += r.reports;
        req.path = r.path;
        req.body = r.body;
        req.headers = { ...headers, 'content-type': r.type };
        return req;
      },
    },
  ];
  const result = await autocannon({
    url: opts.url,
    connections,
    pipelining: 1,
    timeout: 30,
    ...(amount ? { amount } : { duration }),
    requests,
  });
  const seconds = amount && last !== undefined ? (last - first) / 1000 : result.duration;
  return {
    requests: result.requests.total,
    reports,
    seconds,
    rps: result.requests.total / seconds,
    reportsPerSec: reports / seconds,
    p50: result.latency.p50,
    p99: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
  };
}

const out = (o) => process.stdout.write(`${JSON.stringify(o)}\n`);

if (opts.mode === 'mixed') {
  // A fresh run id per round: nothing of an earlier round can be deduplicated away.
  const g = createGenerator({ docs: opts.docs ?? 5000, runId: opts.runId ?? 'm' });
  let i = opts.start ?? 0;
  out(await run({ next: () => g.mixed(i++), duration: opts.duration, amount: opts.amount, connections: opts.connections }));
} else if (opts.mode === 'growth') {
  // Mostly report-to batches of 100 (how Chromium ships bursts; it keeps 1M reports to ~12k
  // requests), one SDK batch and one report-uri in every ten requests.
  const g = createGenerator({ docs: opts.docs ?? 250_000, hosts: opts.hosts ?? 2000, runId: 'g' });
  let i = 0;
  let item = 0;
  const next = () => {
    const k = i++ % 10;
    if (k === 8) return { path: '/csp/sdk', type: 'text/plain;charset=UTF-8', body: g.sdkBatch(i, item++ % 250_000), reports: 1 + (i % 6) };
    if (k === 9) return { path: '/csp/report', type: 'application/csp-report', body: g.reportUri(item, item++ % 250_000), reports: 1 };
    const body = JSON.stringify(Array.from({ length: 100 }, () => g.reportToItem(item, item++ % 250_000)));
    return { path: '/csp/report', type: 'application/reports+json', body, reports: 100 };
  };
  const perSlice = Math.ceil(opts.total / opts.slices);
  let sent = 0;
  for (let s = 0; s < opts.slices; s++) {
    // ~80 reports per request on average: stop each slice at its share of reports.
    const amount = Math.max(opts.connections ?? 32, Math.round(perSlice / 80.3));
    const r = await run({ next, amount, connections: opts.connections });
    sent += r.reports;
    // run.mjs samples the receiver (RSS, file sizes) as each slice's line arrives.
    out({ slice: s, sent, ...r });
  }
} else {
  throw new Error(`unknown mode ${opts.mode}`);
}
