// What PostgreSQL does while receivers write to it (bench/postgres.mjs): the CPU of its processes
// (a local cluster: /proc), its statements and transactions (pg_stat_statements, when loaded), and
// lock waits (pg_stat_activity sampled every 50 ms). Reading a database on another machine
// (BENCH_PG_URL) leaves out what only /proc can tell.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';

// CPU seconds of one process, user + system (/proc/PID/stat, 100 ticks a second); `children`
// adds what its reaped children used (a backend that exited).
export function cpuOf(pid, { children = false } = {}) {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(f[11]) + Number(f[12]) + (children ? Number(f[13]) + Number(f[14]) : 0)) / 100;
  } catch {
    return NaN;
  }
}

function childrenOf(pid) {
  const out = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid) out.push(Number(e));
    } catch {}
  }
  return out;
}

/** CPU seconds used so far by a local cluster: the postmaster, its live children, its reaped ones. */
export function clusterCpu(dataDir) {
  const postmaster = Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
  return childrenOf(postmaster).reduce((n, pid) => n + cpuOf(pid), cpuOf(postmaster, { children: true }));
}

/**
 * Watches database `db` on the server at `adminUrl` (any database of it) from `start()` to `stop()`.
 * `dataDir`: the local cluster's data folder, for CPU; undefined for a server elsewhere.
 */
export async function probe(adminUrl, db, { dataDir, intervalMs = 50 } = {}) {
  const c = new pg.Client({ connectionString: adminUrl, application_name: 'csp-lens-bench-probe' });
  await c.connect();
  const statements = (await c.query("SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements'").catch(() => ({ rows: [] }))).rows.length > 0
    ? await c.query('SELECT pg_stat_statements_reset()').then(() => true, () => false)
    : false;
  const cpu0 = dataDir ? clusterCpu(dataDir) : NaN;
  const samples = { n: 0, active: 0, lock: 0, anyLock: 0, io: 0, events: {} };
  let timer;
  let busy = false;
  const sample = async () => {
    if (busy) return;
    busy = true;
    try {
      const { rows } = await c.query(
        `SELECT state, wait_event_type AS t, wait_event AS e FROM pg_stat_activity WHERE datname = $1 AND backend_type = 'client backend' AND pid <> pg_backend_pid()`,
        [db],
      );
      samples.n++;
      let locks = 0;
      for (const r of rows) {
        if (r.state !== 'active') continue;
        samples.active++;
        if (r.t === 'Lock') locks++;
        if (r.t === 'IO' || r.t === 'IPC' || r.t === 'LWLock') samples.io++;
        if (r.t) samples.events[`${r.t}:${r.e}`] = (samples.events[`${r.t}:${r.e}`] ?? 0) + 1;
      }
      samples.lock += locks;
      if (locks) samples.anyLock++;
    } catch {
    } finally {
      busy = false;
    }
  };
  timer = setInterval(sample, intervalMs);
  return {
    async stop() {
      clearInterval(timer);
      while (busy) await new Promise((r) => setTimeout(r, 5));
      const cpu = dataDir ? clusterCpu(dataDir) - cpu0 : NaN;
      let top = [];
      let commits;
      let statementsRun;
      let execMs;
      if (statements) {
        const { rows } = await c.query(
          `SELECT s.query, s.calls::int AS calls, s.total_exec_time AS ms, s.rows::int AS rows, s.toplevel
             FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = $1 ORDER BY s.total_exec_time DESC`,
          [db],
        );
        const toplevel = rows.filter((r) => r.toplevel);
        // Group commits: each ends with one fold (a COMMIT of its own, so COMMITs count two per group commit).
        commits = toplevel.filter((r) => /^select csp_lens_fold\(/i.test(r.query.trim())).reduce((n, r) => n + r.calls, 0);
        statementsRun = toplevel.reduce((n, r) => n + r.calls, 0);
        execMs = toplevel.reduce((n, r) => n + r.ms, 0);
        top = rows.slice(0, 12).map((r) => ({ query: r.query.replace(/\s+/g, ' ').slice(0, 160), calls: r.calls, ms: r.ms, rows: r.rows, toplevel: r.toplevel }));
      }
      await c.end();
      const events = Object.entries(samples.events).sort((a, b) => b[1] - a[1]).slice(0, 8).map(([e, n]) => ({ event: e, perSample: n / Math.max(1, samples.n) }));
      return {
        cpuSeconds: cpu,
        commits,
        statements: statementsRun,
        execMs,
        top,
        // Mean backends of this database active / waiting on a lock per sample; share of samples with any lock wait.
        active: samples.active / Math.max(1, samples.n),
        lockWaiting: samples.lock / Math.max(1, samples.n),
        lockShare: samples.anyLock / Math.max(1, samples.n),
        waits: events,
        samples: samples.n,
      };
    },
  };
}
