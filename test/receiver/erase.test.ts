import { copyFileSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { NormalizedViolation, ViolationRecord } from '@csp-lens/schema';
import { afterEach, describe, expect, it } from 'vitest';
import { openFileStore, type FileStoreOptions } from '../../packages/receiver/src/store/file/index.js';
import type { IngestBatch, Store } from '../../packages/receiver/src/core/types.js';
import { tempDir } from '../helpers/server.js';
import { archiveLines, jsonLines } from '../helpers/files.js';
import { allRecords, readStore } from '../helpers/records.js';
import { ERASE_T0, batchOf, shopViolation } from '../helpers/erase.js';

// Erasure in the file store: live records, the archive's segments (open and sealed), the groups'
// totals, and what is on disk after a restart or a crash at any step.

const T0 = ERASE_T0;

const violation = shopViolation;
const batch = batchOf;

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function opened(options: Partial<FileStoreOptions> = {}) {
  const { dir, remove } = await tempDir();
  const path = join(dir, 'db.json');
  let store: Store | undefined;
  const open = async (o: Partial<FileStoreOptions> = {}) => (store = await openFileStore({ path, maxRecords: 5, ...options, ...o }));
  cleanups.push(async () => {
    await store?.close();
    await remove();
  });
  return { dir, path, open, get store() { return store!; } };
}

const all = (s: Store) => allRecords(readStore(s));
const archived = (db: string) => archiveLines<ViolationRecord>(db).items;

describe('erasure in the file store', () => {
  it('removes live and archived records by document, fixes the groups, and keeps it so after a restart', async () => {
    const t = await opened();
    let s = await t.open();
    for (let i = 0; i < 12; i++) await s.append(batch([violation(i)]));
    await s.close();
    s = await t.open();
    const before = { live: await all(s), archived: archived(t.path) };
    expect(before.live.length + before.archived.length).toBe(12);
    const doc = 'https://shop.example/p1';
    const want = { deleted: before.live.filter((r) => r.documentURL === doc).length, archived: before.archived.filter((r) => r.documentURL === doc).length };
    expect(want.deleted).toBeGreaterThan(0);
    expect(want.archived).toBeGreaterThan(0);

    expect(await s.erase({ document: doc }, { by: '127.0.0.1' })).toEqual(want);

    const check = async (store: Store) => {
      const live = await all(store);
      const arch = archived(t.path);
      expect(live.some((r) => r.documentURL === doc)).toBe(false);
      expect(arch.some((r) => r.documentURL === doc)).toBe(false);
      expect(live.length + arch.length).toBe(12 - want.deleted - want.archived);
      // Each group counts exactly the records left of it, live and archived.
      const { items: groups } = await store.groups({ limit: 500 });
      for (const g of groups) {
        const left = [...live, ...arch].filter((r) => r.groupId === g.id);
        expect(g.records).toBe(left.length);
        expect(g.count).toBe(left.reduce((n, r) => n + r.count, 0));
      }
      expect((await store.stats({})).archived).toBe(arch.length);
    };
    await check(s);
    await s.close();
    s = await t.open();
    await check(s);
    const audit = jsonLines<Record<string, unknown>>(join(t.dir, 'db.audit.jsonl')).items;
    expect(audit).toEqual([expect.objectContaining({ action: 'erase', filter: { document: doc }, ...want, by: '127.0.0.1' })]);
  });

  it('erases from the queue not yet archived, from sealed segments, and by client and time', async () => {
    const t = await opened({ archive: { segmentBytes: 1 } });
    let s = await t.open();
    // Sealed segments: each checkpoint seals what the open segment holds.
    for (let i = 0; i < 10; i++) {
      await s.append(batch([violation(i)]));
      if (i >= 5) await s.close(), (s = await t.open());
    }
    // And records still queued for the archive (the journal holds them until a checkpoint).
    for (let i = 10; i < 16; i++) await s.append(batch([violation(i)]));
    const sealed = readdirSync(t.dir).filter((f) => /^db\.archive\.\d+\.jsonl$/.test(f));
    expect(sealed.length).toBeGreaterThan(1);
    const everything = [...(await all(s)), ...archived(t.path)];
    expect(everything.length).toBeLessThan(16); // the queue is in neither yet
    const client = '198.51.100.2';
    const res = await s.erase({ clients: [client] });
    expect(res.deleted + res.archived).toBe(4); // i = 2, 6, 10, 14
    const cut = T0 + 5_000;
    const res2 = await s.erase({ before: cut });
    expect(res2.deleted + res2.archived).toBe(4); // i = 0, 1, 3, 4
    await s.close();
    s = await t.open();
    const left = [...(await all(s)), ...archived(t.path)];
    expect(left.map((r) => r.occurredAt).sort()).toEqual([5, 7, 8, 9, 11, 12, 13, 15].map((i) => T0 + i * 1000));
    expect((await s.stats({})).archived).toBe(archived(t.path).length);
  });

  it('erases a group whole: its live and archived records, the group itself', async () => {
    const t = await opened();
    const s = await t.open();
    for (let i = 0; i < 10; i++) await s.append(batch([violation(i)]));
    const gid = (await all(s))[0].groupId;
    const others = (await s.groups({})).items.filter((g) => g.id !== gid).map((g) => ({ id: g.id, records: g.records }));
    const res = await s.erase({ groupId: gid });
    expect(res.deleted + res.archived).toBe(5);
    expect(await s.group(gid)).toBeUndefined();
    expect((await s.groups({})).items.map((g) => ({ id: g.id, records: g.records }))).toEqual(others);
    expect((await all(s)).some((r) => r.groupId === gid)).toBe(false);
    // A report of the same kind afterwards starts the group over.
    await s.append(batch([violation(21)]));
    expect((await s.group(gid))?.group.records).toBe(1);
  });

  it('erases what was appended before it, never what comes after, whatever shares a commit', async () => {
    const t = await opened({ maxRecords: 100 });
    const s = await t.open();
    const doc = 'https://shop.example/p0';
    const [, erased] = await Promise.all([
      s.append(batch([violation(0), violation(3)])),
      s.erase({ document: doc }),
      s.append(batch([violation(6), violation(9, { blockedURL: 'https://late.example/a.png' })])),
    ]);
    expect(erased).toEqual({ deleted: 2, archived: 0 });
    expect((await all(s)).map((r) => r.occurredAt).sort()).toEqual([T0 + 6000, T0 + 9000]);
  });

  it('replays a journaled erasure after a crash: live, archive and totals as if it had finished', async () => {
    const t = await opened({ journal: { checkpointMs: 3_600_000 } });
    const s = await t.open();
    for (let i = 0; i < 6; i++) await s.append(batch([violation(i)]));
    await s.close();
    await t.open();
    for (let i = 6; i < 12; i++) await t.store.append(batch([violation(i)]));
    // What a kill -9 right after the erasure's journal append leaves: the files now, plus its entry.
    const { dir: crash, remove } = await tempDir();
    cleanups.push(remove);
    for (const f of readdirSync(t.dir)) if (!f.endsWith('.lock')) copyFileSync(join(t.dir, f), join(crash, f));
    const journal = join(crash, 'db.journal.jsonl');
    const last = Math.max(...jsonLines<{ n: number }>(journal).items.map((e) => e.n));
    const doc = 'https://shop.example/p2';
    writeFileSync(journal, `${readFileSync(journal, 'utf8')}{"n":${last + 1},"e":{"document":${JSON.stringify(doc)}}}\n`);
    const db = join(crash, 'db.json');
    const reopened = await openFileStore({ path: db, maxRecords: 5 });
    cleanups.push(() => reopened.close());
    const live = await all(reopened);
    const arch = archived(db);
    expect(live.length + arch.length).toBe(8); // 12 less i = 2, 5, 8, 11
    expect([...live, ...arch].some((r) => r.documentURL === doc)).toBe(false);
    for (const g of (await reopened.groups({})).items) expect(g.records).toBe([...live, ...arch].filter((r) => r.groupId === g.id).length);
    expect(JSON.parse(readFileSync(db, 'utf8')).checkpoint.erasing).toBeUndefined();
  });

  it('holds every later commit while an erasure cannot finish, and finishes it once it can', async () => {
    const t = await opened();
    let s = await t.open();
    for (let i = 0; i < 10; i++) await s.append(batch([violation(i)]));
    await s.close();
    s = await t.open();
    // The open segment cannot be rewritten: a directory stands where its new copy goes.
    const blocker = join(t.dir, 'db.archive.jsonl.erase.tmp');
    const { mkdirSync, rmdirSync } = await import('node:fs');
    mkdirSync(blocker);
    const doc = 'https://shop.example/p1';
    await expect(s.erase({ document: doc })).rejects.toThrow(/EISDIR|illegal operation/);
    // The checkpoint names the unfinished erasure; the live records are gone already.
    expect(JSON.parse(readFileSync(t.path, 'utf8')).checkpoint.erasing).toEqual([{ document: doc }]);
    expect((await all(s)).some((r) => r.documentURL === doc)).toBe(false);
    await expect(s.append(batch([violation(30)]))).rejects.toThrow();
    rmdirSync(blocker);
    await s.append(batch([violation(31)]));
    expect(archived(t.path).some((r) => r.documentURL === doc)).toBe(false);
    expect(JSON.parse(readFileSync(t.path, 'utf8')).checkpoint.erasing).toBeUndefined();
    const live = await all(s);
    const arch = archived(t.path);
    for (const g of (await s.groups({})).items) expect(g.records).toBe([...live, ...arch].filter((r) => r.groupId === g.id).length);
    expect(existsSync(blocker)).toBe(false);
  });

  it('erases the same without the journal (every commit rewrites the live file)', async () => {
    const t = await opened({ journal: false });
    let s = await t.open();
    for (let i = 0; i < 9; i++) await s.append(batch([violation(i)]));
    const res = await s.erase({ document: 'https://shop.example/p0' });
    expect(res.deleted + res.archived).toBe(3);
    await s.close();
    s = await t.open();
    expect([...(await all(s)), ...archived(t.path)].length).toBe(6);
  });

  it('refuses an erasure without a condition', async () => {
    const t = await opened();
    const s = await t.open();
    await s.append(batch([violation(1)]));
    await expect(s.erase({})).rejects.toThrow('csp-lens: erase needs a document, client, time or group');
    expect(await all(s)).toHaveLength(1);
  });
});
