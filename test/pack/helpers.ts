import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';

export const root = new URL('../../', import.meta.url);

const exec = promisify(execFile);

/**
 * The environment of a child npm or node outside the workspace. `npm test` exports its own
 * `npm_config_local_prefix` (this repository), `npm_package_*` and `INIT_CWD`: a child npm that
 * inherited them could install into the workspace instead of the fresh project.
 */
export function outsideEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^(npm_package_|npm_lifecycle_|npm_config_local_prefix$|INIT_CWD$|CSP_LENS_)/i.test(k)) continue;
    env[k] = v;
  }
  for (const [k, v] of Object.entries(extra)) if (v !== undefined) env[k] = v;
  return env;
}

/** Runs a command to its end; a non-zero exit fails with its output, so a failing step says why. */
export async function run(cmd: string, args: string[], cwd: string, timeout = 170_000): Promise<string> {
  try {
    const { stdout } = await exec(cmd, args, { cwd, env: outsideEnv(), timeout, maxBuffer: 64 << 20 });
    return stdout;
  } catch (e) {
    const { stdout = '', stderr = '', message } = e as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')} failed in ${cwd}:\n${message}\n${stdout}\n${stderr}`);
  }
}

/** The first fenced `js` block under a heading of a README (by default the project's), exactly as written there. */
export function readmeSnippet(heading: string, file = 'README.md'): string {
  const readme = readFileSync(new URL(file, root), 'utf8');
  const lines = readme.split('\n');
  const at = lines.findIndex((l) => /^#+\s/.test(l) && l.replace(/^#+\s+/, '').trim() === heading);
  if (at < 0) throw new Error(`${file} has no heading "${heading}"`);
  const end = lines.findIndex((l, i) => i > at && /^#+\s/.test(l));
  const section = lines.slice(at + 1, end < 0 ? undefined : end);
  const open = section.findIndex((l) => /^```js\s*$/.test(l));
  const close = section.findIndex((l, i) => i > open && /^```\s*$/.test(l));
  if (open < 0 || close < 0) throw new Error(`${file}: no fenced js block under "${heading}"`);
  return section.slice(open + 1, close).join('\n') + '\n';
}

export interface Started {
  child: ChildProcess;
  /** Everything the process printed so far (stdout and stderr). */
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Starts `node <args>` and waits until its output matches `ready`; fails with the output if it exits
 * first or stays silent past `timeout`.
 */
export async function startNode(args: string[], cwd: string, env: NodeJS.ProcessEnv, ready: RegExp, timeout = 30_000): Promise<Started & { match: RegExpMatchArray }> {
  const child = spawn(process.execPath, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })));
  const match = await new Promise<RegExpMatchArray>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`node ${args.join(' ')} printed nothing matching ${ready} within ${timeout} ms:\n${out}`));
    }, timeout);
    const onData = (d: Buffer) => {
      out += d;
      const m = ready.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m);
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`node ${args.join(' ')} exited (${code ?? signal}) before it was ready:\n${out}`));
    });
  });
  return { child, output: () => out, exited, match };
}
