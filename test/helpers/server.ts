import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Stats, ViolationPage, ViolationRecord } from '@csp-lens/schema';
import { startServer, type RunningServer, type ServerConfig } from '../../packages/receiver/src/server/server.js';
import { afterAll, beforeAll } from 'vitest';

export const FIXTURES = new URL('../fixtures/chromium-156/', import.meta.url);
export const TOKEN = 'test-token-0123456789abcdef';

/** A fresh temp directory, removed by the returned cleanup. */
export async function tempDir(name = 'csp-lens-'): Promise<{ dir: string; remove: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), name));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

export interface TestServer {
  /** `http://127.0.0.1:PORT/csp` */
  url: string;
  token: string;
  db: string;
  dir: string;
  running: RunningServer;
  /** POSTs a body (string or bytes) to `{url}{path}` with the given content type and headers. */
  post(path: string, body: string | Uint8Array, type?: string, headers?: Record<string, string>): Promise<Response>;
  /** GETs `{url}/api{path}` with the token unless other headers are given. */
  api(path: string, headers?: Record<string, string>): Promise<Response>;
  /** Every stored record, walking all cursor pages. */
  all(): Promise<ViolationRecord[]>;
  stats(): Promise<Stats>;
  close(): Promise<void>;
}

/** The receiver on 127.0.0.1, an ephemeral port and a temp db, with the rate limit off unless set. */
export async function startTestServer(config: Partial<ServerConfig> = {}): Promise<TestServer> {
  const { dir, remove } = await tempDir();
  const db = join(dir, 'db.json');
  let running: RunningServer;
  try {
    running = await startServer({ host: '127.0.0.1', port: 0, db, token: TOKEN, rateLimit: 0, ...config });
  } catch (e) {
    await remove();
    throw e;
  }
  const url = running.url;
  const api = (path: string, headers: Record<string, string> = { authorization: `Bearer ${running.token}` }) =>
    fetch(`${url}/api${path}`, { headers });
  const t: TestServer = {
    url,
    token: running.token,
    db,
    dir,
    running,
    post: (path, body, type, headers = {}) =>
      fetch(`${url}${path}`, { method: 'POST', body: body as BodyInit, headers: { ...(type ? { 'content-type': type } : {}), ...headers } }),
    api,
    async all() {
      const out: ViolationRecord[] = [];
      let cursor: string | undefined;
      do {
        const res = await api(`/violations?limit=500${cursor ? `&cursor=${cursor}` : ''}`);
        if (res.status !== 200) throw new Error(`GET violations: ${res.status} ${await res.text()}`);
        const page = (await res.json()) as ViolationPage;
        out.push(...page.items);
        cursor = page.next;
      } while (cursor);
      return out;
    },
    async stats() {
      const res = await api('/stats');
      if (res.status !== 200) throw new Error(`GET stats: ${res.status} ${await res.text()}`);
      return (await res.json()) as Stats;
    },
    async close() {
      await running.close();
      await remove();
    },
  };
  return t;
}

/** A fixture file's raw text, e.g. `fixture('enforce/report-uri-img.json')`. */
export const fixture = (name: string): Promise<string> => readFile(new URL(name, FIXTURES), 'utf8');

/** Fixture file names in a mode directory that start with `prefix`. */
export async function fixtureNames(mode: 'enforce' | 'report-only', prefix: string): Promise<string[]> {
  return (await readdir(new URL(`${mode}/`, FIXTURES))).filter((f) => f.startsWith(prefix) && f.endsWith('.json')).sort();
}

let unique = 0;

/** A distinct report-uri body: each call a new document URL, so each is its own record. */
export function reportUriBody(tag = 'r', overrides: Record<string, unknown> = {}): { body: string; document: string } {
  const document = `https://shop.example/page?${tag}=${++unique}`;
  const report = {
    'document-uri': document,
    referrer: '',
    'violated-directive': 'img-src',
    'effective-directive': 'img-src',
    'original-policy': "default-src 'self'; img-src 'self'; report-uri /csp/report",
    disposition: 'enforce',
    'blocked-uri': 'https://tracker.example/pixel.gif',
    'status-code': 200,
    ...overrides,
  };
  return { body: JSON.stringify({ 'csp-report': report }), document };
}

/** A valid SDK batch (SdkBatch v1, packages/schema/src/wire.ts) with one event per blocked URL. */
export function sdkBatch(opts: { pageId?: string; url?: string; blocked?: string[]; sentAt?: number } = {}) {
  const url = opts.url ?? 'https://shop.example/checkout#step-2';
  const documentURI = url.replace(/#.*$/, '');
  const sentAt = opts.sentAt ?? Date.now();
  return {
    v: 1 as const,
    sentAt,
    page: {
      id: opts.pageId ?? `pv-${++unique}`,
      session: 'sess-1',
      url,
      release: '1.2.3',
      viewport: [1280, 720] as [number, number],
      policies: ["default-src 'self'; img-src 'self'; report-uri /csp/report"],
    },
    events: (opts.blocked ?? ['https://tracker.example/pixel.gif']).map((blocked) => ({
      t: sentAt - 50,
      count: 2,
      documentURI,
      blockedURI: blocked,
      effectiveDirective: 'img-src',
      violatedDirective: 'img-src',
      policy: 0,
      disposition: 'enforce' as const,
      statusCode: 200,
      sourceFile: '',
      lineNumber: 0,
      columnNumber: 0,
      sample: '',
      referrer: '',
      element: { tag: 'img', selector: 'img#pixel', attr: 'src', url: blocked },
    })),
  };
}

// Set by fetch itself (or meaningless off the original connection).
const TRANSPORT_HEADERS = new Set(['host', 'connection', 'content-length']);

/** The request headers Chromium really sent (fixtures/headers), minus the transport ones. */
export async function browserHeaders(name: string): Promise<{ method: string; headers: Record<string, string> }> {
  const { method, rawHeaders } = JSON.parse(await fixture(`headers/${name}`)) as { method: string; rawHeaders: string[] };
  const headers: Record<string, string> = {};
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if (!TRANSPORT_HEADERS.has(rawHeaders[i].toLowerCase())) headers[rawHeaders[i].toLowerCase()] = rawHeaders[i + 1];
  }
  return { method, headers };
}

/** An SDK event (wire.ts SdkEvent) from a recorded SecurityPolicyViolationEvent fixture. */
export function sdkEventFrom(event: Record<string, unknown>, t: number) {
  const pick = <T>(k: string, d: T) => (event[k] ?? d) as T;
  return {
    t,
    count: 1,
    documentURI: pick('documentURI', ''),
    blockedURI: pick('blockedURI', ''),
    effectiveDirective: pick('effectiveDirective', ''),
    violatedDirective: pick('violatedDirective', ''),
    disposition: pick('disposition', 'enforce'),
    statusCode: pick('statusCode', 0),
    sourceFile: pick('sourceFile', ''),
    lineNumber: pick('lineNumber', 0),
    columnNumber: pick('columnNumber', 0),
    sample: pick('sample', ''),
    referrer: pick('referrer', ''),
    noElement: 'not-found' as const,
  };
}

// ---- the built CLI as a child process (crash.test, cli.test) ----

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

// ---- a file store's files (store.test, crash.test) ----

const isFile = (file: string) => statSync(file, { throwIfNoEntry: false })?.isFile() ?? false;

/** The JSON lines of a file that parse; the ones a crash tore are counted. */
export function jsonLines<T>(file: string): { items: T[]; torn: number } {
  const items: T[] = [];
  let torn = 0;
  for (const line of isFile(file) ? readFileSync(file, 'utf8').split('\n') : []) {
    if (!line) continue;
    try {
      items.push(JSON.parse(line) as T);
    } catch {
      torn++;
    }
  }
  return { items, torn };
}

/** The archive's files of store `db`, oldest first: its sealed segments by number, then the open one. */
export function archiveFiles(db: string): string[] {
  const base = db.replace(/\.json$/, '');
  const prefix = `${basename(base)}.archive.`;
  const sealed = readdirSync(dirname(db))
    .map((name) => (name.startsWith(prefix) && name.endsWith('.jsonl') ? name.slice(prefix.length, -'.jsonl'.length) : ''))
    .filter((n) => /^[1-9]\d*$/.test(n))
    .map(Number)
    .sort((a, b) => a - b);
  return [...sealed.map((n) => `${base}.archive.${n}.jsonl`), `${base}.archive.jsonl`];
}

/** Every line of every archive file of `db`, oldest first. */
export function archiveLines<T>(db: string): { items: T[]; torn: number } {
  const all = archiveFiles(db).map((f) => jsonLines<T>(f));
  return { items: all.flatMap((a) => a.items), torn: all.reduce((n, a) => n + a.torn, 0) };
}

export interface StoreFiles {
  /** The live file's records (it must parse: it is only ever replaced by a rename). */
  live: ViolationRecord[];
  checkpoint?: { batches: number; archiveBytes: number; archiveSealed?: number };
  archived: ViolationRecord[];
  /** Document URLs of the journal entries past the checkpoint (what a reopen replays). */
  journaled: string[];
  torn: { archive: number; journal: number };
  /** Every document URL the three files hold. */
  documents: Set<string>;
}

/**
 * A file store's live file, archive and journal as they are right now. Synchronous, so that no
 * store I/O interleaves: what this reads is what a kill -9 at this moment would leave.
 */
export function readStoreFiles(db: string): StoreFiles {
  const base = db.replace(/\.json$/, '');
  const file = existsSync(db) ? (JSON.parse(readFileSync(db, 'utf8')) as { records: ViolationRecord[]; checkpoint?: StoreFiles['checkpoint'] }) : undefined;
  const archive = archiveLines<ViolationRecord>(db);
  const journal = jsonLines<{ n: number; b: { violations: { documentURL: string }[] } }>(`${base}.journal.jsonl`);
  const after = file?.checkpoint?.batches ?? 0;
  const journaled = journal.items.filter((e) => e.n > after).flatMap((e) => e.b.violations.map((v) => v.documentURL));
  const live = file?.records ?? [];
  return {
    live,
    checkpoint: file?.checkpoint,
    archived: archive.items,
    journaled,
    torn: { archive: archive.torn, journal: journal.torn },
    documents: new Set([...live.map((r) => r.documentURL), ...archive.items.map((r) => r.documentURL), ...journaled]),
  };
}

/** Copies a store's files (not its lock) to `db2`, synchronously: the state a kill -9 would leave now. */
export function crashImage(db: string, db2: string): void {
  const base = db.replace(/\.json$/, '');
  const base2 = db2.replace(/\.json$/, '');
  const archives = archiveFiles(db).map((f) => [f, `${base2}${f.slice(base.length)}`]);
  for (const [from, to] of [[db, db2], ...archives, [`${base}.journal.jsonl`, `${base2}.journal.jsonl`]]) {
    if (isFile(from)) copyFileSync(from, to);
  }
}

/**
 * For a describe block that runs the built CLI: a temp dir, and the children it starts (push them
 * to `children`), all killed and removed after the block. Read `dir()` inside tests (set in beforeAll).
 */
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
