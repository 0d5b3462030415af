import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ViolationRecord } from '@csp-lens/schema';
import { cliSandbox, startCli, type Child } from '../helpers/cli.js';
import { readStoreFiles } from '../helpers/files.js';
import { reportUriBody } from '../helpers/bodies.js';
import { served, TOKEN } from './helpers.js';

// A full disk, made real for one process: with a file size limit (RLIMIT_FSIZE), a write past it
// is cut short and the next one fails (EFBIG), as on a disk with no space left; raising the limit
// is the space coming back. Node ignores SIGXFSZ, so the receiver sees failing writes, nothing else.
const LIMIT = 48 * 1024;

describe('a full disk under the file store', () => {
  const sandbox = cliSandbox();

  const post = (c: Child, body: string) =>
    fetch(`${c.url}/report`, { method: 'POST', body, headers: { 'content-type': 'application/csp-report' } }).then((r) => r.status);

  it('answers 503 while the journal cannot be written, never stores or shows what it did not acknowledge, and recovers when space returns', async () => {
    const db = join(sandbox.dir(), 'full.json');
    const args = ['serve', '--port', '0', '--db', db, '--token', TOKEN, '--rate-limit', '0'];
    const c = await startCli(args, {}, 15_000, ['prlimit', `--fsize=${LIMIT}:unlimited`, '--']);
    sandbox.children.push(c);
    const acked: string[] = [];
    const refused: string[] = [];
    // Until the journal is full and several reports in a row are refused.
    for (let i = 0; i < 2000 && refused.length < 5; i++) {
      const { body, document } = reportUriBody('full');
      const status = await post(c, body);
      expect([204, 503]).toContain(status);
      (status === 204 ? acked : refused).push(document);
    }
    expect(refused).toHaveLength(5);
    expect(acked.length).toBeGreaterThan(20);
    const health = await fetch(`${c.url}/health`);
    expect(health.status).toBe(503);
    await health.body?.cancel();

    const shown = (records: ViolationRecord[]) => new Set(records.map((r) => r.documentURL));
    let seen = shown(await served(c.url.replace(/\/csp$/, '')));
    expect(refused.filter((d) => seen.has(d))).toEqual([]);
    expect(acked.filter((d) => !seen.has(d))).toEqual([]);

    // Space comes back: the next report is stored at once, the refused ones never.
    execFileSync('prlimit', ['--pid', String(c.process.pid), '--fsize=unlimited:unlimited']);
    for (let i = 0; i < 5; i++) {
      const { body, document } = reportUriBody('back');
      expect(await post(c, body)).toBe(204);
      acked.push(document);
    }
    const healed = await fetch(`${c.url}/health`);
    expect(healed.status).toBe(200);
    await healed.body?.cancel();
    seen = shown(await served(c.url.replace(/\/csp$/, '')));
    expect(refused.filter((d) => seen.has(d))).toEqual([]);
    expect(acked.filter((d) => !seen.has(d))).toEqual([]);

    // And after a restart, from the files.
    c.process.kill('SIGTERM');
    expect((await c.exited).code).toBe(0);
    const onDisk = readStoreFiles(db).documents;
    expect(refused.filter((d) => onDisk.has(d))).toEqual([]);
    expect(acked.filter((d) => !onDisk.has(d))).toEqual([]);
    const again = await startCli(args);
    sandbox.children.push(again);
    seen = shown(await served(again.url.replace(/\/csp$/, '')));
    expect(refused.filter((d) => seen.has(d))).toEqual([]);
    expect(acked.filter((d) => !seen.has(d))).toEqual([]);
  });
});
