#!/usr/bin/env node
// A throwaway PostgreSQL cluster for the tests and the benchmark: initdb into a temp folder, start
// on a free 127.0.0.1 port (socket in that folder, nothing else listens), stop and delete at the end.
// PostgreSQL refuses to run as root, so as root the cluster runs as `nobody`.
//   node scripts/pg-cluster.mjs     starts one, prints its URL, stops it on Ctrl-C
import { execFile, spawn, spawnSync } from 'node:child_process';
import { chownSync, closeSync, existsSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The folder holding initdb and pg_ctl: $PG_BIN, the newest /usr/lib/postgresql/N/bin, or PATH. */
export function findPgBin() {
  if (process.env.PG_BIN && existsSync(join(process.env.PG_BIN, 'initdb'))) return process.env.PG_BIN;
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).filter((v) => existsSync(join(root, v, 'bin', 'initdb'))) : [];
  if (versions.length) return join(root, versions.sort((a, b) => Number(b) - Number(a))[0], 'bin');
  const found = spawnSync('sh', ['-c', 'command -v initdb'], { encoding: 'utf8' });
  return found.status === 0 ? dirname(found.stdout.trim()) : undefined;
}

const isRoot = process.getuid?.() === 0;
const nobody = () => ({ uid: Number(spawnSync('id', ['-u', 'nobody'], { encoding: 'utf8' }).stdout), gid: Number(spawnSync('id', ['-g', 'nobody'], { encoding: 'utf8' }).stdout) });
// As root, run the PostgreSQL tools as an unprivileged user (runuser ships with util-linux).
const asUser = (cmd, args) => (isRoot ? ['runuser', ['-u', 'nobody', '--', cmd, ...args]] : [cmd, args]);

function run(cmd, args, cwd) {
  const [file, argv] = asUser(cmd, args);
  return new Promise((resolve, reject) =>
    execFile(file, argv, { cwd, encoding: 'utf8' }, (e, stdout, stderr) => (e ? reject(new Error(`${cmd} failed: ${stderr || e.message}`)) : resolve(stdout))),
  );
}

/** Sends a signal; false when the process is gone. */
function signal(pid, name) {
  try {
    process.kill(pid, name);
    return true;
  } catch {
    return false;
  }
}

/** A process's state letter from /proc (`T`: stopped), or undefined once it is gone. */
function stateOf(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat[stat.lastIndexOf(')') + 2];
  } catch {
    return undefined;
  }
}

/** The ids of a process's children, from /proc (Linux). */
function childrenOf(pid) {
  const out = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // `pid (comm) state ppid …`: comm may hold spaces and parentheses, so read after the last ')'.
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid) out.push(Number(entry));
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer().once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/**
 * Runs the postmaster as a child of this process (not daemonized by `pg_ctl start`), so its exit is
 * reaped here even where PID 1 reaps nothing (containers); resolves once it accepts connections.
 */
async function launch(bin, dir, data, port, extra) {
  const args = ['-D', data, '-p', String(port), '-k', dir, '-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=200', ...extra];
  const [file, argv] = asUser(join(bin, 'postgres'), args);
  const log = openSync(join(dir, 'server.log'), 'a');
  const child = spawn(file, argv, { cwd: dir, stdio: ['ignore', log, log] });
  closeSync(log);
  for (const started = Date.now(); Date.now() - started < 60_000; ) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`postgres exited: ${readFileSync(join(dir, 'server.log'), 'utf8').slice(-2000)}`);
    const ready = spawnSync(join(bin, 'pg_isready'), ['-q', '-h', dir, '-p', String(port)]);
    if (ready.status === 0) return child;
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill('SIGKILL');
  throw new Error('postgres did not start within 60 s');
}

/**
 * Starts a cluster. `durable: false` (tests) turns fsync off; the benchmark keeps PostgreSQL's
 * defaults so a commit costs what it costs in production. `settings`: more `-c name=value` (the
 * benchmark loads pg_stat_statements).
 */
export async function startCluster({ durable = false, settings = {} } = {}) {
  const bin = findPgBin();
  if (!bin) throw new Error('csp-lens: PostgreSQL is not installed (no initdb); on Debian: apt-get install -y postgresql, or set PG_BIN');
  const dir = mkdtempSync(join(tmpdir(), 'csp-lens-pg-'));
  const data = join(dir, 'data');
  if (isRoot) {
    const { uid, gid } = nobody();
    chownSync(dir, uid, gid);
  }
  const pgctl = (...args) => run(join(bin, 'pg_ctl'), ['-D', data, ...args], dir);
  let stopped = false;
  let server;
  // Processes stopped by pause(): resumed before anything else, since a stopped postmaster never
  // acts on pg_ctl's shutdown signal and `stop -w` would wait for it forever.
  const paused = [];
  const resumeAll = () => {
    for (const pid of paused.splice(0)) signal(pid, 'SIGCONT');
  };
  const stopSync = () => {
    if (stopped) return;
    stopped = true;
    resumeAll();
    const [file, argv] = asUser(join(bin, 'pg_ctl'), ['-D', data, '-m', 'immediate', '-w', 'stop']);
    spawnSync(file, argv, { cwd: dir, stdio: 'ignore' });
    rmSync(dir, { recursive: true, force: true });
  };
  // A test runner that exits without calling stop(), or is killed by a signal (no 'exit' event then),
  // must not leave a server behind. After cleaning up, the signal is raised again for its default.
  const onSignal = (signal) => {
    stopSync();
    process.kill(process.pid, signal);
  };
  const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  const unwatch = () => {
    process.off('exit', stopSync);
    for (const signal of SIGNALS) process.off(signal, onSignal);
  };
  process.once('exit', stopSync);
  for (const signal of SIGNALS) process.once(signal, onSignal);
  try {
    await run(join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--locale=C', '--no-sync'], dir);
    const fast = [
      ...(durable ? [] : ['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off']),
      ...Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`]),
    ];
    let port;
    for (let attempt = 0; ; attempt++) {
      port = await freePort();
      try {
        server = await launch(bin, dir, data, port, fast);
        break;
      } catch (e) {
        if (attempt >= 2) throw e; // most likely the port was taken between probe and start
      }
    }
    const exited = () => new Promise((resolve) => (server.exitCode !== null || server.signalCode !== null ? resolve() : server.once('exit', resolve)));
    return {
      bin,
      dir,
      port,
      url: `postgres://postgres@127.0.0.1:${port}/postgres`,
      async stop() {
        if (stopped) return;
        resumeAll();
        const done = exited();
        await pgctl('-m', 'fast', '-w', 'stop').catch(() => {});
        await done;
        stopSync();
        unwatch();
      },
      async crash() {
        resumeAll();
        const done = exited();
        await pgctl('-m', 'immediate', '-w', 'stop');
        await done;
      },
      async start() {
        if (server.exitCode === null && server.signalCode === null) throw new Error('csp-lens: the cluster is running');
        server = await launch(bin, dir, data, port, fast);
      },
      async pause() {
        if (paused.length) return;
        const postmaster = Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
        // The postmaster first, so it forks no new backend while the others are being stopped.
        for (const pid of [postmaster, ...childrenOf(postmaster)]) if (signal(pid, 'SIGSTOP')) paused.push(pid);
        // As root, runuser waits on the postmaster and stops itself when it stops (job control, as
        // su does); it must be continued too, or it never reaps the postmaster's exit.
        if (server.pid !== postmaster) {
          for (const end = Date.now() + 5000; stateOf(server.pid) !== 'T' && Date.now() < end; ) await new Promise((r) => setTimeout(r, 10));
          paused.push(server.pid);
        }
      },
      resume: resumeAll,
    };
  } catch (e) {
    stopSync();
    unwatch();
    throw e;
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const cluster = await startCluster({ durable: process.argv.includes('--durable') });
  console.log(`DATABASE_URL=${cluster.url}`);
  console.log('(Ctrl-C stops the cluster and deletes its data)');
  // Nothing else keeps this process (and the cluster) up; Ctrl-C stops both (startCluster's handler).
  setInterval(() => {}, 1 << 30);
}
