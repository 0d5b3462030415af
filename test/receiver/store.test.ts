import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ViolationRecord } from '@csp-lens/schema';
import { openFileStore } from '../../packages/receiver/src/store/file.js';
import { normalizeNative, normalizeSdk } from '../../packages/receiver/src/normalize.js';
import type { IngestBatch, Store } from '../../packages/receiver/src/types.js';
import { fixture, reportUriBody, sdkBatch, sdkEventFrom, tempDir } from '../helpers/server.js';

const UA = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/156.0.0.0 Safari/537.36';

/** One distinct report-uri violation, as the HTTP layer hands it to the store. */
function nativeBatch(receivedAt = Date.now()): { batch: IngestBatch; document: string } {
  const { body, document } = reportUriBody('store');
  return { batch: normalizeNative(JSON.parse(body), { receivedAt, userAgent: UA }), document };
}

interface OnDisk {
  live: ViolationRecord[];
  archived: ViolationRecord[];
}

/** The live file and the archive as they are on disk right now (synchronous: no I/O interleaves). */
function readDisk(db: string): OnDisk {
  const live = existsSync(db) ? (JSON.parse(readFileSync(db, 'utf8')).records as ViolationRecord[]) : [];
  const archive = db.replace(/\.json$/, '.archive.jsonl');
  const lines = existsSync(archive) ? readFileSync(archive, 'utf8').split('\n').filter(Boolean) : [];
  return { live, archived: lines.map((l) => JSON.parse(l) as ViolationRecord) };
}

const docs = (records: ViolationRecord[]) => records.map((r) => r.documentURL);

describe('file store', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let db: string;
  const open: Store[] = [];
  const openStore = async (opts: { maxRecords?: number; mergeWindowMs?: number } = {}) => {
    const store = await openFileStore({ path: db, ...opts });
    open.push(store);
    return store;
  };
  beforeEach(async () => {
    tmp = await tempDir();
    db = join(tmp.dir, 'db.json');
  });
  afterEach(async () => {
    for (const s of open.splice(0)) await s.close();
    await tmp.remove();
  });

  describe('group commit', () => {
    it('resolves each of 200 concurrent appends only once its record is on disk, in a handful of writes', async () => {
      const store = await openStore();
      const writes = new Set<number>();
      const missing: string[] = [];
      const appends = Array.from({ length: 200 }, () => {
        const { batch, document } = nativeBatch();
        return store.append(batch).then(() => {
          // Each write holds a different number of records: the count identifies the write.
          const { live } = readDisk(db);
          writes.add(live.length);
          if (!docs(live).includes(document)) missing.push(document);
        });
      });
      await Promise.all(appends);
      expect(missing).toEqual([]);
      expect(readDisk(db).live).toHaveLength(200);
      console.log(`group commit: 200 concurrent appends → ${writes.size} writes`);
      expect(writes.size).toBeLessThanOrEqual(3);
    });

    it('keeps every acknowledged record on disk at every commit while appends keep arriving and the archive rotates', async () => {
      const store = await openStore({ maxRecords: 7 });
      const acked = new Set<string>();
      const lost: string[] = [];
      const writes = new Set<string>();
      const pending: Promise<void>[] = [];
      for (let wave = 0; wave < 60; wave++) {
        for (let i = 0; i < 5; i++) {
          const { batch, document } = nativeBatch();
          pending.push(
            store.append(batch).then(() => {
              acked.add(document);
              // The moment of an acknowledgement is a moment a crash may hit: check the whole invariant.
              const { live, archived } = readDisk(db);
              writes.add(`${live.length}:${archived.length}:${live[live.length - 1]?.id}`);
              const onDisk = new Set([...docs(live), ...docs(archived)]);
              for (const d of acked) if (!onDisk.has(d)) lost.push(d);
            }),
          );
        }
        // Paced so that appends land while a write (and its archive append) is in flight.
        await new Promise((r) => setTimeout(r, 1));
      }
      await Promise.all(pending);
      console.log(`sustained appends: 300 appends → ${writes.size} writes (maxRecords 7)`);
      expect([...new Set(lost)]).toEqual([]);
      const { live, archived } = readDisk(db);
      expect(live).toHaveLength(7);
      expect(live.length + archived.length).toBe(300);
      expect(new Set([...docs(live), ...docs(archived)]).size).toBe(300);
      expect(writes.size).toBeLessThan(300);
    });

    it('flushes pending appends on close, then refuses new ones', async () => {
      const store = await openFileStore({ path: db });
      const { batch, document } = nativeBatch();
      const appended = store.append(batch);
      await store.close();
      await appended;
      expect(docs(readDisk(db).live)).toEqual([document]);
      await expect(store.append(nativeBatch().batch)).rejects.toThrow('csp-lens: the store is closed');
    });
  });

  describe('archive', () => {
    it('keeps the newest maxRecords live and moves older ones to the JSON-lines archive, none lost', async () => {
      const store = await openStore({ maxRecords: 10 });
      const all: string[] = [];
      for (let i = 0; i < 25; i++) {
        const { batch, document } = nativeBatch();
        all.push(document);
        await store.append(batch);
      }
      const { live, archived } = readDisk(db);
      expect(docs(live)).toEqual(all.slice(15));
      expect(docs(archived)).toEqual(all.slice(0, 15));
      expect((await store.stats({})).archived).toBe(15);
      expect((await store.stats({})).records).toBe(10);
      const page = await store.violations({ limit: 500 });
      expect(docs(page.items)).toEqual(all.slice(15).reverse());
    });

    it('starts a fresh archive line after a line torn by a crash mid-append', async () => {
      const archive = join(tmp.dir, 'db.archive.jsonl');
      const whole = JSON.stringify({ id: 'r1', documentURL: 'https://old.example/' });
      await writeFile(archive, `${whole}\n{"id":"r2","documentURL":"https://sh`);
      const store = await openStore({ maxRecords: 2 });
      const all: string[] = [];
      for (let i = 0; i < 5; i++) {
        const { batch, document } = nativeBatch();
        all.push(document);
        await store.append(batch);
      }
      const lines = (await readFile(archive, 'utf8')).split('\n');
      expect(lines.slice(0, 2)).toEqual([whole, '{"id":"r2","documentURL":"https://sh']);
      expect(lines.slice(2, -1).map((l) => JSON.parse(l).documentURL)).toEqual(all.slice(0, 3));
      expect(lines[lines.length - 1]).toBe('');
    });

    it('reopens from the file with the same records, archive count and policy table', async () => {
      let store = await openFileStore({ path: db, maxRecords: 10 });
      for (let i = 0; i < 25; i++) await store.append(nativeBatch().batch);
      const before = await store.violations({ limit: 500 });
      const statsBefore = await store.stats({});
      const policy = await store.policy(before.items[0].policyHash!);
      await store.close();
      const archiveBefore = await readFile(join(tmp.dir, 'db.archive.jsonl'), 'utf8');

      store = await openStore({ maxRecords: 10 });
      expect(await store.violations({ limit: 500 })).toEqual(before);
      expect(await store.stats({})).toEqual(statsBefore);
      expect(await store.policy(before.items[0].policyHash!)).toBe(policy);
      expect(policy).toMatch(/^default-src 'self'/);
      // New records go on after the old ones: ids do not restart, the archive only grows.
      const { batch, document } = nativeBatch();
      await store.append(batch);
      const after = await store.violations({ limit: 1 });
      expect(docs(after.items)).toEqual([document]);
      expect(after.items[0].id).not.toBe(before.items[0].id);
      expect(parseInt(after.items[0].id.slice(1), 36)).toBeGreaterThan(parseInt(before.items[0].id.slice(1), 36));
      expect((await readFile(join(tmp.dir, 'db.archive.jsonl'), 'utf8')).startsWith(archiveBefore)).toBe(true);
      expect((await store.stats({})).archived).toBe(16);
    });

    it('merges an SDK event stored before a restart with the native report that arrives after it', async () => {
      const now = Date.now();
      const event = JSON.parse(await fixture('enforce/event-img.json'));
      const sdk = { ...sdkBatch({ pageId: 'pv-restart', url: event.documentURI, sentAt: now }), events: [sdkEventFrom(event, now - 20)] };
      let store = await openFileStore({ path: db });
      await store.append(normalizeSdk(sdk, { receivedAt: now, userAgent: UA }));
      await store.close();

      store = await openStore();
      const native = normalizeNative(JSON.parse(await fixture('enforce/report-uri-img.json')), { receivedAt: now + 1500, userAgent: UA });
      await store.append(native);
      const { items } = await store.violations({});
      expect(items).toHaveLength(1);
      expect(items[0]).toMatchObject({ sources: { sdk: 1, reportUri: 1, reportTo: 0 }, page: { id: 'pv-restart' } });
      const { live } = readDisk(db);
      expect(live).toHaveLength(1);
      expect(live[0].sources).toEqual({ sdk: 1, reportUri: 1, reportTo: 0 });
      const groups = await store.groups({});
      expect(groups.items).toHaveLength(1);
      expect(groups.items[0]).toMatchObject({ records: 1, merged: 1 });
    });
  });

  describe('lock', () => {
    it('refuses a second open of the same file in this process until the first is closed', async () => {
      const first = await openFileStore({ path: db });
      await expect(openFileStore({ path: db })).rejects.toThrow(`csp-lens: ${db} is already open in this process`);
      expect(readFileSync(`${db}.lock`, 'utf8')).toBe(String(process.pid));
      await first.close();
      expect(existsSync(`${db}.lock`)).toBe(false);
      await openStore();
    });

    it('refuses a file locked by another live process, naming it', async () => {
      const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
      try {
        await new Promise((r) => child.once('spawn', r));
        await writeFile(`${db}.lock`, String(child.pid));
        await expect(openFileStore({ path: db })).rejects.toThrow(
          `csp-lens: ${db} is in use by process ${child.pid}; one receiver per store file (lock: ${db}.lock)`,
        );
        expect(readFileSync(`${db}.lock`, 'utf8')).toBe(String(child.pid));
      } finally {
        child.kill('SIGKILL');
      }
    });

    it('takes over a stale lock left by a dead process', async () => {
      await writeFile(`${db}.lock`, '999999');
      const store = await openStore();
      expect(readFileSync(`${db}.lock`, 'utf8')).toBe(String(process.pid));
      await store.append(nativeBatch().batch);
      expect(readDisk(db).live).toHaveLength(1);
    });

    it('refuses a file that is not a csp-lens store, and leaves it and no lock behind', async () => {
      await writeFile(db, '{"hello":"world"}');
      await expect(openFileStore({ path: db })).rejects.toThrow(`csp-lens: ${db} is not a csp-lens store (unknown version)`);
      await writeFile(db, 'not json at all');
      await expect(openFileStore({ path: db })).rejects.toThrow(new RegExp(`^csp-lens: ${db.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is not a csp-lens store \\(`));
      expect(await readFile(db, 'utf8')).toBe('not json at all');
      expect(existsSync(`${db}.lock`)).toBe(false);
      await expect(openFileStore({ path: '' })).rejects.toThrow('csp-lens: the store needs a file path (--db)');
    });
  });
});
