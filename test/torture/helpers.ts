import { request, type Agent } from 'node:http';
import type { ViolationPage, ViolationRecord } from '@csp-lens/schema';
import { archiveLines } from '../helpers/files.js';
import { allRecords, readApi } from '../helpers/records.js';

// The read token of the receivers bench/lib.mjs starts.
import { TOKEN } from '../../bench/lib.mjs';
export { TOKEN };

export interface Reply {
  status: number;
  body: string;
  ms: number;
}

/**
 * One POST with node:http, so the source address can be chosen (`localAddress`: the receiver
 * keys its rate limit by client IP, and all of 127.0.0.0/8 is this machine). Never rejects: a
 * network error or a timeout is status 0 with the reason as body.
 */
export function post(
  url: string,
  body: string | Uint8Array,
  headers: Record<string, string>,
  opts: { localAddress?: string; timeoutMs?: number; agent?: Agent } = {},
): Promise<Reply> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const u = new URL(url);
    const bytes = typeof body === 'string' ? Buffer.from(body) : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
    let done = false;
    const finish = (status: number, text: string) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve({ status, body: text, ms: performance.now() - t0 });
    };
    const req = request(
      { host: u.hostname, port: u.port, path: u.pathname + u.search, method: 'POST', localAddress: opts.localAddress, agent: opts.agent, headers: { 'content-length': String(bytes.length), ...headers } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => finish(res.statusCode ?? 0, Buffer.concat(chunks).toString('utf8')));
        res.on('error', (e) => finish(0, `response error: ${e.message}`));
      },
    );
    const timer = setTimeout(() => {
      finish(0, 'timeout');
      req.destroy();
    }, opts.timeoutMs ?? 10_000);
    req.on('error', (e) => finish(0, `request error: ${e.message}`));
    req.end(bytes);
  });
}

/** Every record the receiver serves, through the read API (`base`: without the prefix). */
export const served = (base: string) => allRecords(readApi(`${base}/csp`, TOKEN));

/** The archive's records; lines a crash tore are counted, not parsed. */
export function archived(db: string): { records: ViolationRecord[]; torn: number } {
  const { items, torn } = archiveLines<ViolationRecord>(db);
  return { records: items, torn };
}

/** The document URLs a generated body reports (what an acknowledgement promises to keep). */
export function documentsOf(body: string): string[] {
  const v = JSON.parse(body);
  if (Array.isArray(v)) return v.map((r) => r.body.documentURL);
  if (v['csp-report']) return [v['csp-report']['document-uri']];
  return v.events.map((e: { documentURI: string }) => e.documentURI);
}
