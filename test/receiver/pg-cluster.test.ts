import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { findPgBin } from '../../scripts/pg-cluster.mjs';

const CLUSTER = fileURLToPath(new URL('../../scripts/pg-cluster.mjs', import.meta.url));

// The throwaway cluster behind the PostgreSQL tests: a test run that is killed (Ctrl-C, a CI
// timeout) must not leave a postmaster and its data directory behind.
describe('scripts/pg-cluster.mjs', () => {
  it.each(['SIGTERM', 'SIGINT', 'SIGHUP'] as const)('stops the cluster and deletes its files when its process gets %s', async (signal) => {
    const code = `const { startCluster } = await import(${JSON.stringify(CLUSTER)});
      const c = await startCluster();
      console.log(JSON.stringify({ dir: c.dir, port: c.port }));
      setInterval(() => {}, 1 << 30);`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stderr.on('data', (c) => (err += c));
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_, s) => resolve(s)));
    const { dir, port } = await new Promise<{ dir: string; port: number }>((resolve, reject) => {
      child.stdout.on('data', (c) => {
        out += c;
        if (out.includes('\n')) resolve(JSON.parse(out.split('\n')[0]));
      });
      child.once('exit', () => reject(new Error(`the cluster did not start: ${err}`)));
    });
    const ready = () => spawnSync(join(findPgBin()!, 'pg_isready'), ['-q', '-h', '127.0.0.1', '-p', String(port)]).status;
    try {
      expect(ready()).toBe(0);
      expect(existsSync(dir)).toBe(true);
      child.kill(signal);
      // Cleaned up, then the signal's default action: the process dies of it, as it would have.
      expect(await exited).toBe(signal);
      expect(existsSync(dir), 'data directory removed').toBe(false);
      expect(ready(), 'postgres no longer answers').not.toBe(0);
    } finally {
      // Should this fail, it must not leave behind what it tests for (SIGQUIT: immediate shutdown).
      child.kill('SIGKILL');
      const pidFile = join(dir, 'data', 'postmaster.pid');
      if (existsSync(pidFile)) {
        try {
          process.kill(Number(readFileSync(pidFile, 'utf8').split('\n')[0]), 'SIGQUIT');
        } catch {}
      }
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
