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
 * defaults so a commit costs what it costs in production.
 */
export async function startCluster({ durable = false } = {}) {
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
  const stopSync = () => {
    if (stopped) return;
    stopped = true;
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
    const fast = durable ? [] : ['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off'];
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
    return {
      bin,
      dir,
      port,
      url: `postgres://postgres@127.0.0.1:${port}/postgres`,
      async stop() {
        if (stopped) return;
        const exited = new Promise((resolve) => (server.exitCode !== null ? resolve() : server.once('exit', resolve)));
        await pgctl('-m', 'fast', '-w', 'stop').catch(() => {});
        await exited;
        stopSync();
        unwatch();
      },
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
