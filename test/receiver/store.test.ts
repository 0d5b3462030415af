import { spawn } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ViolationRecord } from '@csp-lens/schema';
import { type FileStoreOptions, openFileStore } from '../../packages/receiver/src/store/file/index.js';
import { type Outcome, groupCommit } from '../../packages/receiver/src/store/commit.js';
import { normalizeNative, normalizeSdk } from '../../packages/receiver/src/core/normalize.js';
import type { IngestBatch, Store } from '../../packages/receiver/src/core/types.js';
import { archiveFiles, crashImage, readStoreFiles } from '../helpers/files.js';
import { fixture, reportUriBody, sdkBatch, sdkEventFrom } from '../helpers/bodies.js';
import { tempDir } from '../helpers/server.js';
import { snapshot } from '../helpers/store-snapshot.js';
import { manualClock } from '../helpers/clock.js';

const UA = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/156.0.0.0 Safari/537.36';

/** One distinct report-uri violation, as the HTTP layer hands it to the store. */
function nativeBatch(receivedAt = Date.now()): { batch: IngestBatch; document: string } {
  const { body, document } = reportUriBody('store');
  return { batch: normalizeNative(JSON.parse(body), { receivedAt, userAgent: UA }), document };
}

const docs = (records: ViolationRecord[]) => records.map((r) => r.documentURL);
const sorted = (xs: Iterable<string>) => [...xs].sort();

/** Every document a store serves, newest first (all pages). */
async function served(store: Store): Promise<string[]> {
  return docs((await snapshot(store)).pages.flatMap((p) => p.items));
}

describe('file store', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let db: string;
  const open: Store[] = [];
  // The stores' checkpoint timers run on this clock: time is advanced, never waited for.
  let clock = manualClock();
  /** A millisecond on: checkpoints at `checkpointMs: 1` come due; then what can run, runs. */
  const tick = async () => {
    clock.advance(1);
    await new Promise((r) => setImmediate(r));
  };
  const openStore = async (opts: Omit<FileStoreOptions, 'path'> = {}, path = db) => {
    const store = await openFileStore({ path, clock, ...opts });
    open.push(store);
    return store;
  };
  /** Opens what a kill -9 at this moment would leave: a copy of the store's files. */
  let images = 0;
  const reopenCrashed = async (opts: Omit<FileStoreOptions, 'path'> = {}, from = db) => {
    const copy = join(tmp.dir, `crash-${++images}.json`);
    crashImage(from, copy);
    return { store: await openStore(opts, copy), path: copy };
  };
  beforeEach(async () => {
    tmp = await tempDir();
    db = join(tmp.dir, 'db.json');
    clock = manualClock();
  });
  afterEach(async () => {
    vi.restoreAllMocks();
    for (const s of open.splice(0)) await s.close();
    await tmp.remove();
  });

  describe('group commit', () => {
    it('resolves each of 200 concurrent appends only once its report is in the synced journal, in a handful of writes', async () => {
      const store = await openStore();
      const writes = new Set<number>();
      const missing: string[] = [];
      const appends = Array.from({ length: 200 }, () => {
        const { batch, document } = nativeBatch();
        return store.append(batch).then(() => {
          // Each write leaves a different number of journal entries: the count identifies the write.
          const { journaled } = readStoreFiles(db);
          writes.add(journaled.length);
          if (!journaled.includes(document)) missing.push(document);
        });
      });
      await Promise.all(appends);
      expect(missing).toEqual([]);
      console.log(`group commit: 200 concurrent appends → ${writes.size} journal writes`);
      expect(writes.size).toBeLessThanOrEqual(3);
      // The live file is a checkpoint: rewritten on close (or every checkpointMs), not per commit.
      expect(readStoreFiles(db).live).toEqual([]);
      expect(readStoreFiles(db).journaled).toHaveLength(200);
      await store.close();
      expect(readStoreFiles(db).live).toHaveLength(200);
      expect(existsSync(join(tmp.dir, 'db.journal.jsonl'))).toBe(false);
    });

    it('says a batch is durable once the synced journal holds it, before merging it: a read asked then sees it, a crash then replays it', async () => {
      const store = await openStore();
      const { batch, document } = nativeBatch();
      let merged = false;
      let seen: { merged: boolean; journaled: string[]; read: Promise<string[]>; image: string } | undefined;
      const appended = store.append(batch, undefined, {
        onDurable() {
          const image = join(tmp.dir, 'at-durable.json');
          crashImage(db, image);
          seen = { merged, journaled: readStoreFiles(db).journaled, read: served(store), image };
        },
      });
      void appended.then(() => (merged = true));
      const stored = await appended;
      expect(seen, 'onDurable was called').toBeDefined();
      expect(seen!.merged, 'before the append resolved with what it merged').toBe(false);
      expect(seen!.journaled).toEqual([document]);
      expect(stored.map((s) => s.record.documentURL)).toEqual([document]);
      // The read asked at that moment waited for the merge: acknowledged data is there to read.
      expect(await seen!.read).toEqual([document]);
      const reopened = await openStore({}, seen!.image);
      expect(await served(reopened)).toEqual([document]);
    });

    it('with journal: false, says nothing is durable before the live file holds it', async () => {
      const store = await openStore({ journal: false });
      const { batch, document } = nativeBatch();
      const early: string[][] = [];
      await store.append(batch, undefined, { onDurable: () => early.push(docs(readStoreFiles(db).live)) });
      // Whole-file commits are durable only once merged and rewritten: the append's own promise says so.
      expect(early.every((live) => live.includes(document))).toBe(true);
      expect(docs(readStoreFiles(db).live)).toEqual([document]);
    });

    it('with journal: false, rewrites the whole live file per commit, in a handful of writes', async () => {
      const store = await openStore({ journal: false });
      const writes = new Set<number>();
      const missing: string[] = [];
      const appends = Array.from({ length: 200 }, () => {
        const { batch, document } = nativeBatch();
        return store.append(batch).then(() => {
          const { live } = readStoreFiles(db);
          writes.add(live.length);
          if (!docs(live).includes(document)) missing.push(document);
        });
      });
      await Promise.all(appends);
      expect(missing).toEqual([]);
      expect(readStoreFiles(db).live).toHaveLength(200);
      expect(writes.size).toBeLessThanOrEqual(3);
      expect(existsSync(join(tmp.dir, 'db.journal.jsonl'))).toBe(false);
    });

    for (const journal of [{ checkpointMs: 2 }, false] as const) {
      it(`keeps every acknowledged report on disk and after a crash at every commit, appends arriving, the archive rotating (journal ${JSON.stringify(journal)})`, async () => {
        const store = await openStore({ maxRecords: 7, journal });
        const acked = new Set<string>();
        const lost: string[] = [];
        const writes = new Set<string>();
        const crashes: { path: string; acked: string[] }[] = [];
        const pending: Promise<void>[] = [];
        for (let wave = 0; wave < 60; wave++) {
          for (let i = 0; i < 5; i++) {
            const { batch, document } = nativeBatch();
            pending.push(
              store.append(batch).then(() => {
                acked.add(document);
                // The moment of an acknowledgement is a moment a crash may hit: check the whole invariant.
                const files = readStoreFiles(db);
                writes.add(`${files.live.length}:${files.archived.length}:${files.journaled.length}:${files.live[files.live.length - 1]?.id}`);
                for (const d of acked) if (!files.documents.has(d)) lost.push(d);
                if (acked.size % 60 === 0) {
                  const path = join(tmp.dir, `image-${acked.size}.json`);
                  crashImage(db, path);
                  crashes.push({ path, acked: [...acked] });
                }
              }),
            );
          }
          // Paced so that appends land while a write (and a checkpoint, its archive append) is in flight.
          await tick();
        }
        await Promise.all(pending);
        console.log(`sustained appends (journal ${JSON.stringify(journal)}): 300 appends → ${writes.size} writes (maxRecords 7)`);
        expect([...new Set(lost)]).toEqual([]);
        expect(writes.size).toBeLessThan(300);
        // Each kill -9 image, reopened (the journal replayed), serves or has archived every report acknowledged by then, once.
        expect(crashes.length).toBeGreaterThanOrEqual(4);
        for (const crash of crashes) {
          const reopened = await openStore({ maxRecords: 7, journal }, crash.path);
          const all = [...(await served(reopened)), ...docs(readStoreFiles(crash.path).archived)];
          expect(all.length, 'nothing twice').toBe(new Set(all).size);
          expect(crash.acked.filter((d) => !all.includes(d))).toEqual([]);
        }
        await store.close();
        const { live, archived } = readStoreFiles(db);
        expect(live).toHaveLength(7);
        expect(live.length + archived.length).toBe(300);
        expect(new Set([...docs(live), ...docs(archived)]).size).toBe(300);
      });
    }

    it('flushes pending appends on close, then refuses new ones', async () => {
      const store = await openFileStore({ path: db });
      const { batch, document } = nativeBatch();
      const appended = store.append(batch);
      await store.close();
      await appended;
      expect(docs(readStoreFiles(db).live)).toEqual([document]);
      expect(existsSync(join(tmp.dir, 'db.journal.jsonl')), 'a clean close leaves no journal').toBe(false);
      await expect(store.append(nativeBatch().batch)).rejects.toThrow('csp-lens: the store is closed');
    });
  });

  describe('journal', () => {
    it('skips a line torn by a kill mid-append, loses nothing acknowledged, and starts the next append on a new line', async () => {
      let store = await openFileStore({ path: db });
      const a = nativeBatch();
      await store.append(a.batch);
      await store.close();
      // The next commit was killed halfway through its append: a fragment, no newline, never acknowledged.
      const journal = join(tmp.dir, 'db.journal.jsonl');
      const fragment = '{"n":2,"b":{"violations":[{"documentURL":"https://torn.example/","effectiveDirect';
      await writeFile(journal, fragment);
      store = await openStore();
      expect(await served(store)).toEqual([a.document]);
      const b = nativeBatch();
      await store.append(b.batch);
      const lines = (await readFile(journal, 'utf8')).split('\n');
      expect(lines[0]).toBe(fragment);
      expect(JSON.parse(lines[1]).b.violations[0].documentURL).toBe(b.document);
      expect(lines.slice(2)).toEqual(['']);
      const { store: crashed } = await reopenCrashed();
      expect(sorted(await served(crashed))).toEqual(sorted([a.document, b.document]));
    });

    it('replays idempotently and checkpoints what it replayed: a second crash right after gives the same store, nothing archived twice', async () => {
      const store = await openStore({ maxRecords: 5 });
      for (let i = 0; i < 12; i++) await store.append(nativeBatch().batch);
      const before = await snapshot(store);
      expect(readStoreFiles(db).journaled).toHaveLength(12);
      // Evictions wait for the checkpoint: until then the journal is their durable copy.
      expect(readStoreFiles(db).archived).toHaveLength(0);

      const first = await reopenCrashed({ maxRecords: 5 });
      expect(await snapshot(first.store)).toEqual(before);
      // The replay became a checkpoint before anything new: live file full, journal empty, archive exact.
      const files = readStoreFiles(first.path);
      expect(files.checkpoint?.batches).toBe(12);
      expect(files.journaled).toEqual([]);
      expect(docs(files.live)).toEqual(docs(before.pages.flatMap((p) => p.items)).reverse());
      expect(files.archived).toHaveLength(7);
      expect(new Set(files.archived.map((r) => r.id)).size).toBe(7);

      const second = await reopenCrashed({ maxRecords: 5 }, first.path);
      expect(await snapshot(second.store)).toEqual(before);
      expect(readStoreFiles(second.path).archived).toEqual(files.archived);
      const third = await reopenCrashed({ maxRecords: 5 });
      expect(await snapshot(third.store)).toEqual(before);
    });

    it('switches between journal and whole-file commits on one file without losing anything', async () => {
      const all: string[] = [];
      const add = async (store: Store) => {
        const { batch, document } = nativeBatch();
        all.push(document);
        await store.append(batch);
      };
      const journaled = await openStore({ maxRecords: 4 });
      for (let i = 0; i < 3; i++) await add(journaled);
      const whole = await reopenCrashed({ maxRecords: 4, journal: false });
      expect(existsSync(whole.path.replace(/json$/, 'journal.jsonl')), 'replayed into the live file, then removed').toBe(false);
      for (let i = 0; i < 3; i++) await add(whole.store);
      const back = await reopenCrashed({ maxRecords: 4 }, whole.path);
      await add(back.store);
      const final = await reopenCrashed({ maxRecords: 4 }, back.path);
      const archived = docs(readStoreFiles(final.path).archived);
      expect(sorted([...(await served(final.store)), ...archived])).toEqual(sorted(all));
      expect((await final.store.stats({})).archived).toBe(3);
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
      expect((await store.stats({})).archived).toBe(15);
      expect((await store.stats({})).records).toBe(10);
      const page = await store.violations({ limit: 500 });
      expect(docs(page.items)).toEqual(all.slice(15).reverse());
      await store.close();
      const { live, archived } = readStoreFiles(db);
      expect(docs(live)).toEqual(all.slice(15));
      expect(docs(archived)).toEqual(all.slice(0, 15));
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
      await store.close(); // the checkpoint on close appends the evictions
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

      store = await openFileStore({ path: db });
      const native = normalizeNative(JSON.parse(await fixture('enforce/report-uri-img.json')), { receivedAt: now + 1500, userAgent: UA });
      await store.append(native);
      const { items } = await store.violations({});
      expect(items).toHaveLength(1);
      expect(items[0]).toMatchObject({ sources: { sdk: 1, reportUri: 1, reportTo: 0 }, page: { id: 'pv-restart' } });
      const groups = await store.groups({});
      expect(groups.items).toHaveLength(1);
      expect(groups.items[0]).toMatchObject({ records: 1, merged: 1 });
      await store.close();
      const { live } = readStoreFiles(db);
      expect(live).toHaveLength(1);
      expect(live[0].sources).toEqual({ sdk: 1, reportUri: 1, reportTo: 0 });
    });
  });

  describe('a failed disk write (disk full)', () => {
    const quiet = () => vi.spyOn(console, 'error').mockImplementation(() => {});

    it('keeps evicted records queued while archive appends fail, acknowledges from the journal, and archives them once it works again', async () => {
      const errors = quiet();
      const archive = join(tmp.dir, 'db.archive.jsonl');
      await mkdir(archive); // every append to it now fails (EISDIR), as on a full disk
      const store = await openStore({ maxRecords: 3, journal: { checkpointMs: 1 } });
      const all: string[] = [];
      for (let i = 0; i < 10; i++) {
        const { batch, document } = nativeBatch();
        all.push(document);
        await store.append(batch);
        await tick(); // checkpoints come due, and fail on the archive too
      }
      expect((await store.stats({})).archived).toBe(7);
      expect(sorted(readStoreFiles(db).documents)).toEqual(sorted(all));
      expect(errors.mock.calls.some(([m]) => String(m).includes(`checkpoint of ${db} failed`))).toBe(true);
      const { store: crashed } = await reopenCrashed({ maxRecords: 3 });
      expect(await served(crashed)).toEqual(all.slice(7).reverse());

      await rm(archive, { recursive: true });
      // A failed checkpoint is retried 5 s later: that time goes by at once.
      clock.advance(5_000);
      const { batch, document } = nativeBatch();
      all.push(document);
      await store.append(batch);
      // The retried checkpoint archives them after this commit is acknowledged: wait for it (its fsyncs), not for the clock.
      await vi.waitFor(() => expect(docs(readStoreFiles(db).archived)).toEqual(all.slice(0, 8)), { timeout: 10_000 });
      await store.close();
      const { live, archived } = readStoreFiles(db);
      expect(docs(live)).toEqual(all.slice(8));
      expect(docs(archived)).toEqual(all.slice(0, 8));
    });

    it('with journal: false, a failed rewrite takes the commit back: its reports are neither stored nor shown, nothing is archived twice', async () => {
      quiet();
      const store = await openStore({ maxRecords: 3, journal: false });
      const all = Array.from({ length: 6 }, () => nativeBatch());
      for (const { batch } of all.slice(0, 3)) await store.append(batch);
      await mkdir(`${db}.tmp`); // the live file's rewrite fails (EISDIR), after the archive took the evictions
      for (const { batch } of all.slice(3, 5)) await expect(store.append(batch)).rejects.toThrow(/EISDIR/);
      // Not acknowledged: not shown, and the live file still holds what it held.
      expect(await served(store)).toEqual(all.slice(0, 3).map((a) => a.document).reverse());
      expect(docs(readStoreFiles(db).live)).toEqual(all.slice(0, 3).map((a) => a.document));
      expect(readStoreFiles(db).archived).toEqual([]);
      await rm(`${db}.tmp`, { recursive: true });
      await store.append(all[5].batch);
      const { live, archived } = readStoreFiles(db);
      expect(docs(archived)).toEqual([all[0].document]);
      expect(docs(live)).toEqual([all[1], all[2], all[5]].map((a) => a.document));
      expect((await store.stats({})).archived).toBe(1);
    });

    it('with journal: false, refuses further appends when a failed commit cannot be taken back', async () => {
      const errors = quiet();
      const archive = join(tmp.dir, 'db.archive.jsonl');
      const store = await openStore({ maxRecords: 1, journal: false });
      await store.append(nativeBatch().batch);
      await mkdir(archive); // the archive append fails, and so does reading the files back (EISDIR)
      await expect(store.append(nativeBatch().batch)).rejects.toThrow(/EISDIR/);
      await rm(archive, { recursive: true });
      await expect(store.append(nativeBatch().batch)).rejects.toThrow(/could not be taken back.*restart/);
      expect(errors.mock.calls.some(([m]) => String(m).includes('could not take back a failed commit'))).toBe(true);
    });

    it('keeps serving when a checkpoint cannot be written: the journal stays the durable copy until one can', async () => {
      const errors = quiet();
      const store = await openStore({ maxRecords: 4, journal: { checkpointMs: 1 } });
      await mkdir(`${db}.tmp`); // the live file's rewrite fails (EISDIR)
      const all: string[] = [];
      for (let i = 0; i < 8; i++) {
        const { batch, document } = nativeBatch();
        all.push(document);
        await store.append(batch);
        await tick();
      }
      expect(errors.mock.calls.some(([m]) => String(m).includes(`checkpoint of ${db} failed`))).toBe(true);
      expect(readStoreFiles(db).live).toEqual([]);
      const { store: crashed, path } = await reopenCrashed({ maxRecords: 4 });
      expect(sorted([...(await served(crashed)), ...docs(readStoreFiles(path).archived)])).toEqual(sorted(all));
      await rm(`${db}.tmp`, { recursive: true });
      await store.close();
      expect(docs(readStoreFiles(db).live)).toEqual(all.slice(4));
      expect(existsSync(join(tmp.dir, 'db.journal.jsonl'))).toBe(false);
    });
  });

  describe('archive segments', () => {
    const sealedOnDisk = (path = db) => archiveFiles(path).slice(0, -1).map((f) => Number(/\.archive\.(\d+)\.jsonl$/.exec(f)![1]));
    const sizes = () => archiveFiles(db).map((f) => (existsSync(f) ? statSync(f).size : 0));

    for (const journal of [{ checkpointMs: 1 }, false] as const) {
      it(`seals the open segment at a checkpoint once it reaches segmentBytes, as 1, 2, 3, …, each evicted record once, in order (journal ${JSON.stringify(journal)})`, async () => {
        const store = await openStore({ maxRecords: 3, journal, archive: { segmentBytes: 3000 } });
        const all: string[] = [];
        for (let i = 0; i < 40; i++) {
          const { batch, document } = nativeBatch();
          all.push(document);
          await store.append(batch);
          await tick();
        }
        await store.close();
        const sealed = sealedOnDisk();
        expect(sealed.length).toBeGreaterThanOrEqual(3);
        expect(sealed).toEqual(sealed.map((_, i) => i + 1));
        // Sealed only once full; the open one was not full at its last checkpoint.
        for (const size of sizes().slice(0, -1)) expect(size).toBeGreaterThanOrEqual(3000);
        const { live, archived, checkpoint } = readStoreFiles(db);
        expect(checkpoint?.archiveSealed).toBe(sealed.length);
        expect(docs(archived)).toEqual(all.slice(0, 37));
        expect(docs(live)).toEqual(all.slice(37));
      });
    }

    it('keeps the newest `keep` sealed segments, deletes older ones, and numbers on after a reopen without overwriting', async () => {
      const log = vi.spyOn(console, 'log').mockImplementation(() => {});
      const options = { maxRecords: 3, journal: false, archive: { segmentBytes: 3000, keep: 2 } } as const;
      let store = await openStore(options);
      for (let i = 0; i < 30; i++) await store.append(nativeBatch().batch);
      await store.close();
      const first = sealedOnDisk();
      expect(first).toHaveLength(2);
      const newest = first[1];
      expect(first).toEqual([newest - 1, newest]);
      expect(log.mock.calls.filter(([m]) => String(m).includes('deleted archive segment'))).toHaveLength(newest - 2);
      const kept = readStoreFiles(db).archived.map((r) => r.id);
      store = await openStore(options);
      for (let i = 0; i < 30; i++) await store.append(nativeBatch().batch);
      await store.close();
      const second = sealedOnDisk();
      expect(second).toHaveLength(2);
      expect(second[0]).toBeGreaterThan(newest);
      // What was kept before the reopen was either deleted whole or is still there, never rewritten.
      const now = readStoreFiles(db).archived.map((r) => r.id);
      expect(now.filter((id) => kept.includes(id))).toEqual(kept.filter((id) => now.includes(id)));
      expect(readStoreFiles(db).live).toHaveLength(3);
    });

    it('after a crash between sealing a segment and writing the checkpoint that names it, archives each record once and seals on from there', async () => {
      const errors = vi.spyOn(console, 'error').mockImplementation(() => {});
      const options = { maxRecords: 3, journal: { checkpointMs: 1 }, archive: { segmentBytes: 1 } } as const;
      const store = await openStore(options);
      const all: string[] = [];
      const send = async (n: number) => {
        for (let i = 0; i < n; i++) {
          const { batch, document } = nativeBatch();
          all.push(document);
          await store.append(batch);
          await tick();
        }
      };
      await send(10);
      // Checkpoints run after the commit they follow is acknowledged: wait for them, not for the clock.
      await vi.waitFor(() => {
        const files = readStoreFiles(db);
        expect(files.checkpoint!.archiveSealed).toBeGreaterThanOrEqual(1);
        expect(files.journaled, 'every batch checkpointed').toEqual([]);
      }, { timeout: 10_000 }); // a whole checkpoint (three fsyncs and a rename): vi.waitFor's 1 s default is too short on a slow disk
      // The next checkpoint seals (every non-empty segment is full at 1 byte), then cannot write the live file.
      // A checkpoint still finishing holds the temp file for a moment (CI once hit EEXIST here): retry.
      await vi.waitFor(() => mkdir(`${db}.tmp`), { timeout: 10_000 });
      await send(4);
      // A checkpoint with nothing new to seal may fail first; wait for the one that sealed.
      await vi.waitFor(() => {
        expect(errors.mock.calls.some(([m]) => String(m).includes(`checkpoint of ${db} failed`))).toBe(true);
        const sealedAtCrash = sealedOnDisk();
        expect(sealedAtCrash[sealedAtCrash.length - 1]).toBe(readStoreFiles(db).checkpoint!.archiveSealed! + 1);
      }, { timeout: 10_000 });
      // kill -9 now: the newest segment holds evictions the live file's checkpoint does not know of.
      const { store: crashed, path } = await reopenCrashed(options);
      const present = [...(await served(crashed)), ...docs(readStoreFiles(path).archived)];
      expect(present.length, 'nothing twice').toBe(new Set(present).size);
      expect(sorted(present)).toEqual(sorted(all));
      // Its live file now names the segments on disk (the replay's evictions were sealed too: 1 byte is full).
      const reopenedSealed = sealedOnDisk(path);
      expect(reopenedSealed).toEqual(reopenedSealed.map((_, i) => i + 1));
      expect(readStoreFiles(path).checkpoint!.archiveSealed).toBe(reopenedSealed.length);
      await crashed.close();
      const afterClose = [...docs(readStoreFiles(path).live), ...docs(readStoreFiles(path).archived)];
      expect(afterClose.length).toBe(new Set(afterClose).size);
      expect(sorted(afterClose)).toEqual(sorted(all));
      // The store that failed goes on: no second seal until a checkpoint names the first.
      await rm(`${db}.tmp`, { recursive: true });
      await send(3);
      await store.close();
      const final = readStoreFiles(db);
      const sealed = sealedOnDisk();
      expect(sealed).toEqual(sealed.map((_, i) => i + 1));
      expect(final.checkpoint!.archiveSealed).toBe(sealed.length);
      expect(sorted([...docs(final.live), ...docs(final.archived)])).toEqual(sorted(all));
      expect(docs(final.archived).length).toBe(new Set(docs(final.archived)).size);
    });

    it('rejects a negative or fractional segment size or keep count at open', async () => {
      await expect(openFileStore({ path: db, archive: { segmentBytes: -1 } })).rejects.toThrow('archive segmentBytes must be an integer ≥ 0, got -1');
      await expect(openFileStore({ path: db, archive: { keep: 1.5 } })).rejects.toThrow('archive keep must be an integer ≥ 0, got 1.5');
      // The lock was released: the file opens.
      await (await openStore()).close();
    });
  });

  describe('reads', () => {
    it('runs a read issued during a write once that write is durable, on what it acknowledged', async () => {
      const applied: string[] = [];
      const finish: (() => void)[] = [];
      // Each item applied in memory as its write starts (one that throws fails alone), durable when `finish` is called.
      const commits = groupCommit<string, string>({
        async write(items) {
          const outcomes = items.map((x): Outcome<string> => {
            if (x === 'bad') return { ok: false, error: new Error('unreadable batch') };
            applied.push(x);
            return { ok: true, value: x };
          });
          await new Promise<void>((r) => finish.push(r));
          return outcomes;
        },
      });
      const a = commits.add('a');
      // Not written yet, not applied either: a read now does not see it.
      expect(await commits.read(() => [...applied])).toEqual([]);
      await vi.waitFor(() => expect(finish).toHaveLength(1));
      let read: string[] | undefined;
      const reading = commits.read(() => [...applied]).then((r) => (read = r));
      const b = commits.add('b');
      const bad = commits.add('bad');
      // Everything that can run now has run (no timer is involved): "a" is still being written.
      for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
      expect(applied).toEqual(['a']);
      expect(read, 'waits while "a" is being written').toBeUndefined();
      finish[0]();
      await a;
      await reading;
      expect(read).toEqual(['a']);
      await vi.waitFor(() => expect(finish).toHaveLength(2));
      finish[1]();
      await b;
      await expect(bad).rejects.toThrow('unreadable batch');
      expect(await commits.read(() => [...applied])).toEqual(['a', 'b']);
    });

    it('applies a staged commit while the next one is made durable, in order, at most one apply behind; a read waits for every acknowledged commit, never for one still being made durable', async () => {
      const log: string[] = [];
      const persisting: (() => void)[] = [];
      const applying: (() => void)[] = [];
      const memory: string[] = [];
      const acked: string[] = [];
      const commits = groupCommit<string, string>({
        async write() {
          throw new Error('every commit here is staged');
        },
        staged: {
          takes: () => true,
          async persist(items) {
            log.push(`persist ${items}`);
            await new Promise<void>((r) => persisting.push(r));
          },
          async apply(items) {
            log.push(`apply ${items}`);
            await new Promise<void>((r) => applying.push(r));
            memory.push(...items);
            return items.map((value) => ({ ok: true, value }));
          },
        },
      });
      const settle = async () => {
        for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
      };
      const add = (x: string) => commits.add(x, () => acked.push(x));
      const a = add('a');
      await vi.waitFor(() => expect(persisting).toHaveLength(1));
      const b = add('b');
      persisting[0]();
      // "a" is acknowledged and applied while "b" is made durable.
      await vi.waitFor(() => expect(applying).toHaveLength(1));
      await vi.waitFor(() => expect(persisting).toHaveLength(2));
      expect(acked).toEqual(['a']);
      expect(log.sort()).toEqual(['apply a', 'persist a', 'persist b']);
      let read1: string[] | undefined;
      const r1 = commits.read(() => [...memory]).then((r) => (read1 = r));
      await settle();
      expect(read1, 'waits for the apply of the acknowledged "a"').toBeUndefined();
      // "b" durable: acknowledged at once, its apply waits for "a"'s; "c" is not made durable
      // while two applies are pending.
      persisting[1]();
      await vi.waitFor(() => expect(acked).toEqual(['a', 'b']));
      let read2: string[] | undefined;
      const r2 = commits.read(() => [...memory]).then((r) => (read2 = r));
      const c = add('c');
      await settle();
      expect(persisting).toHaveLength(2);
      expect(applying).toHaveLength(1);
      applying[0]();
      await a;
      await r1;
      expect(read1).toEqual(['a']);
      // "c" now goes to the journal while "b" is applied; the read asked after b's acknowledgement sees "b".
      await vi.waitFor(() => expect(persisting).toHaveLength(3));
      await vi.waitFor(() => expect(applying).toHaveLength(2));
      await settle();
      expect(read2).toBeUndefined();
      applying[1]();
      await b;
      await r2;
      expect(read2).toEqual(['a', 'b']);
      // "c" is still being made durable: a read does not wait for it.
      expect(await commits.read(() => [...memory])).toEqual(['a', 'b']);
      persisting[2]();
      await vi.waitFor(() => expect(applying).toHaveLength(3));
      applying[2]();
      expect(await c).toBe('c');
      expect(memory).toEqual(['a', 'b', 'c']);
      expect(commits.busy).toBe(false);
    });

    it('runs up to `concurrency` writes at once, finishing in any order: what arrives while all are busy rides the next one; a read waits for every write started', async () => {
      const writes: { items: string[]; finish: (fail?: boolean) => void }[] = [];
      const commits = groupCommit<string, string>({
        concurrency: 2,
        failWaiting: true,
        write: (items) =>
          new Promise((resolve, reject) =>
            writes.push({ items, finish: (fail) => (fail ? reject(new Error(`database down under ${items}`)) : resolve(items.map((value) => ({ ok: true, value })))) }),
          ),
      });
      const settle = async () => {
        for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
      };
      const a = commits.add('a');
      await vi.waitFor(() => expect(writes).toHaveLength(1));
      // A slot is free: "b" does not wait for "a".
      const b = commits.add('b');
      await vi.waitFor(() => expect(writes).toHaveLength(2));
      const c = commits.add('c');
      const d = commits.add('d');
      await settle();
      expect(writes.map((w) => w.items)).toEqual([['a'], ['b']]);
      let read = false;
      const reading = commits.read(() => (read = true));
      // The second write ends first: "b" is stored, and "c" and "d" ride the next write together.
      writes[1].finish();
      expect(await b).toBe('b');
      await vi.waitFor(() => expect(writes).toHaveLength(3));
      expect(writes[2].items).toEqual(['c', 'd']);
      await settle();
      expect(read, 'a read waits for the first write, still in flight').toBe(false);
      const kicked = commits.kick();
      writes[0].finish();
      expect(await a).toBe('a');
      await reading;
      expect(commits.busy).toBe(true);
      // A write that throws fails its items and what waits, not the other write in flight.
      const e = commits.add('e');
      await vi.waitFor(() => expect(writes).toHaveLength(4));
      const f = commits.add('f');
      writes[3].finish(true);
      await expect(e).rejects.toThrow('database down under e');
      await expect(f).rejects.toThrow('the store failed the commit ahead of this one');
      let dry = false;
      void kicked.then(() => (dry = true));
      await settle();
      expect(dry, 'the loop is not dry while "c,d" is being written').toBe(false);
      writes[2].finish();
      expect(await Promise.all([c, d])).toEqual(['c', 'd']);
      await kicked;
      expect(commits.busy).toBe(false);
      expect(writes).toHaveLength(4);
      expect(() => groupCommit({ concurrency: 2, write: async () => [], staged: { takes: () => true, persist: async () => {}, apply: async () => [] } })).toThrow(
        "a group commit's concurrency must be an integer ≥ 1, and 1 with staged steps (got 2)",
      );
    });

    for (const journal of [true, false]) {
      it(`returns only reports already on disk, to reads issued while commits are in flight (journal ${journal})`, async () => {
        const store = await openStore({ maxRecords: 40, journal });
        const notDurable: string[] = [];
        const unacked = new Set<string>();
        let issuedInFlight = 0;
        const tasks: Promise<unknown>[] = [];
        const check = (found: string[]) => {
          const onDisk = readStoreFiles(db).documents;
          for (const d of found) if (!onDisk.has(d)) notDurable.push(d);
        };
        for (let wave = 0; wave < 40; wave++) {
          if (unacked.size) issuedInFlight++;
          tasks.push(store.violations({ limit: 500 }).then((p) => check(docs(p.items))));
          tasks.push(store.group('g_nope'), store.stats({}));
          for (let i = 0; i < 4; i++) {
            const { batch, document } = nativeBatch();
            unacked.add(document);
            tasks.push(store.append(batch).then(() => unacked.delete(document)));
          }
          tasks.push(store.violations({ limit: 500 }).then((p) => check(docs(p.items))));
          const groups = await store.groups({});
          check(groups.items.length ? docs((await store.group(groups.items[0].id))!.records) : []);
          if (wave % 3) await tick();
        }
        await Promise.all(tasks);
        expect(notDurable).toEqual([]);
        expect(issuedInFlight).toBeGreaterThan(10);
        expect(await served(store)).toHaveLength(40);
      });
    }
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
      expect(readStoreFiles(db).documents.size).toBe(1);
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
