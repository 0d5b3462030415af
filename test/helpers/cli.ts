import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll } from 'vitest';
import { tempDir } from './server.js';

// The built CLI as a child process (crash.test, cli.test, disk-full.test).

export const BIN = fileURLToPath(new URL('../../packages/receiver/bin/csp-lens.js', import.meta.url));
const CLI = new URL('../../packages/receiver/dist/cli.js', import.meta.url);

export function requireBuiltCli(): void {
  if (!existsSync(CLI)) throw new Error('packages/receiver/dist/cli.js is missing: run `npx rollup -c --silent` (npm test does)');
}

export interface Child {
  process: ChildProcess;
  /** `http://127.0.0.1:PORT/csp`, from the first line the CLI prints. */
  url: string;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Runs the bin with `args` and resolves once it prints where it is receiving. `wrap`: a command
 * that runs node for it (`['prlimit', '--fsize=…', '--']`).
 */
export function startCli(args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 15_000, wrap: string[] = []): Promise<Child> {
  const [cmd, ...pre] = [...wrap, process.execPath, BIN];
  const child = spawn(cmd!, [...pre, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (c: string) => (out += c));
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (err += c));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`csp-lens did not start within ${timeoutMs} ms\nstdout: ${out}\nstderr: ${err}`));
    }, timeoutMs);
    const onData = () => {
      const m = /^csp-lens receiving at (\S+)\/report /m.exec(out);
      if (!m) return;
      clearTimeout(timer);
      child.stdout!.off('data', onData);
      resolve({ process: child, url: m[1], stdout: () => out, stderr: () => err, exited });
    };
    child.stdout!.on('data', onData);
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`csp-lens exited (${code ?? signal}) before it started\nstdout: ${out}\nstderr: ${err}`));
    });
  });
}

/** Runs the bin to completion (for --help and refusals). */
export function runCli(args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 15_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`csp-lens ${args.join(' ')} did not exit within ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, timeoutMs);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

export function cliSandbox() {
  let tmp: Awaited<ReturnType<typeof tempDir>> | undefined;
  const children: Child[] = [];
  beforeAll(async () => {
    requireBuiltCli();
    tmp = await tempDir();
  });
  afterAll(async () => {
    for (const c of children) if (c.process.exitCode === null && c.process.signalCode === null) c.process.kill('SIGKILL');
    await Promise.all(children.map((c) => c.exited));
    await tmp?.remove();
  });
  return { children, dir: () => tmp!.dir };
}
