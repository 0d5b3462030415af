import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Stats, ViolationRecord } from '@csp-lens/schema';
import { startServer, type RunningServer, type ServerConfig } from '../../packages/receiver/src/server/server.js';
import { allRecords, readApi } from './records.js';

// A receiver in this process, on 127.0.0.1 and a temp store (fixtures and bodies: bodies.ts; the
// CLI as a child process: cli.ts; a file store's files on disk: files.ts).

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
    all: () => allRecords(readApi(url, running.token)),
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
