import { unlink } from 'node:fs/promises';
import { resolve } from 'node:path';
import { Low } from 'lowdb';
import type { IngestBatch, Store } from '../types.js';
import { createState, emptyData } from './state.js';
import { computeStats, groupsOn, queryGroups, queryViolations } from './query.js';
import { acquireLock } from './lock.js';
import { SyncedJSONFile, sizeOf } from './adapter.js';
import { type ArchiveOptions, createArchive, openSegmentPath, sealedSegments } from './archive.js';
import { type EntryBody, type Journal, type Paths, entryBody, openJournal, recover } from './journal.js';
import { type FileData, checkpoints } from './checkpoint.js';
import { groupCommit } from './commit.js';

export interface FileStoreOptions {
  /** The lowdb JSON file. Records past `maxRecords` go to `<path>.archive.jsonl`. */
  path: string;
  maxRecords?: number;
  mergeWindowMs?: number;
  groupCapPerMinute?: number;
  /**
   * DESIGN §5. On (default): the durable step of a group commit is an fdatasync'd append of its
   * batches to `<path>.journal.jsonl`; the live file is a checkpoint rewritten from memory every
   * `checkpointMs` (default 30 s), every `checkpointBytes` of journal (default 32 MiB), when idle
   * and on close; opening replays the journal past the checkpoint. Off (the benchmark's "before"):
   * every commit rewrites the whole live file.
   */
  journal?: boolean | { checkpointMs?: number; checkpointBytes?: number };
  /** Sealing and keeping archive segments (by default sealed at 64 MiB, all kept). */
  archive?: ArchiveOptions;
}

type Item = { batch: IngestBatch; filtered?: Record<string, number>; body?: EntryBody };

/** Evicted records held in memory, at most, before a journal commit appends them to the archive. */
const ARCHIVE_EVERY = 1000;

/** The default store: one lowdb JSON file, group commits, a journal, an append-only archive. */
export async function openFileStore(options: FileStoreOptions): Promise<Store> {
  if (typeof options.path !== 'string' || !options.path) throw new Error('csp-lens: the store needs a file path (--db)');
  const path = resolve(options.path);
  const release = await acquireLock(path);
  let journal: Journal | undefined;
  try {
    const db = new Low<FileData>(new SyncedJSONFile(path), emptyData());
    await db.read();
    if (db.data?.version !== 1 || !Array.isArray(db.data.records)) {
      throw new Error(`csp-lens: ${path} is not a csp-lens store (unknown version)`);
    }
    const base = path.replace(/\.json$/, '');
    const paths: Paths = { db: path, base, archive: openSegmentPath(base), journal: `${base}.journal.jsonl` };
    const saved = db.data.checkpoint;
    delete db.data.checkpoint;
    const state = createState(db.data, {
      maxRecords: options.maxRecords ?? 10_000,
      mergeWindowMs: options.mergeWindowMs ?? 10_000,
      groupCapPerMinute: options.groupCapPerMinute ?? 100,
    });
    // Replayed whatever the mode, so switching the journal off never drops what it held.
    const { batches, evicted, replayed } = await recover(paths, saved, state);
    // Numbering goes on after the newest sealed segment on disk, so a seal never overwrites one.
    const sealed = Math.max(saved?.archiveSealed ?? 0, ...(await sealedSegments(base)));
    const archive = createArchive(base, await sizeOf(paths.archive), sealed, options.archive);
    archive.push(evicted);
    if (options.journal !== false) journal = await openJournal(paths.journal);
    const tuning = typeof options.journal === 'object' ? options.journal : {};
    const live = checkpoints({
      db, state, archive, journal, batches,
      checkpointMs: tuning.checkpointMs ?? 30_000,
      checkpointBytes: tuning.checkpointBytes ?? 32 * 1024 * 1024,
    });
    let archiveFailing = false;
    let closed = false;

    const commits = groupCommit<Item>({
      apply({ batch, filtered, body }) {
        archive.push(state.ingest(batch, filtered));
        const n = live.next();
        if (journal && body) journal.entry(n, body);
      },
      async write() {
        if (!journal) return live.write();
        // The journal alone makes a commit durable (a replay evicts again what the archive lacks), so
        // evictions wait for the checkpoint, or go alongside once enough are queued to matter for
        // memory; a failed archive append only keeps them queued.
        if (archive.queued < ARCHIVE_EVERY) return journal.append();
        const archived = archive.flush().then(
          () => void (archiveFailing = false),
          (e: Error) => {
            if (!archiveFailing) console.error(`csp-lens: archive append failed (retrying): ${e.message}`);
            archiveFailing = true;
          },
        );
        await Promise.all([journal.append(), archived]);
      },
      due: () => live.due(),
      housekeep: () => live.run(path),
      idle: () => (closed ? live.stop() : live.idle(() => void commits.kick())),
    });

    // What the replay rebuilt becomes a checkpoint before anything new arrives (in both modes: its
    // `batches` keeps a crash before the journal is emptied from replaying it twice), and a journal
    // store has a parseable live file from its first moment on.
    // So does a segment sealed after the checkpoint read (a crash before the next one landed): the
    // live file must name it before another seal may happen.
    if (replayed > 0 || sealed !== (saved?.archiveSealed ?? 0) || (journal && !(await sizeOf(path)))) await live.write();
    if (!journal) await unlink(paths.journal).catch(() => {});

    const { data, records } = state;
    return {
      append(batch: IngestBatch, filtered?: Record<string, number>) {
        if (closed) return Promise.reject(new Error('csp-lens: the store is closed'));
        return commits.add({ batch, filtered, body: journal ? entryBody(batch, filtered) : undefined });
      },
      // Acknowledged data only (commit.ts); after a failed write, also what the next one retries.
      violations: (q) => commits.read(() => queryViolations(records.values(), q)),
      groups: (q) => commits.read(() => queryGroups(data.groups, q, q.document ? groupsOn(records.values(), q.document) : undefined)),
      group: (id) =>
        commits.read(() => {
          const group = Object.hasOwn(data.groups, id) ? data.groups[id] : undefined;
          if (!group) return undefined;
          const { items } = queryViolations(records.values(), { groupId: id, limit: 50 });
          const example = records.get(group.exampleId) ?? items[0];
          const policy = example?.policyHash ? data.policies[example.policyHash]?.policy : undefined;
          return { group, records: items, ...(policy ? { policy } : {}) };
        }),
      policy: (hash) => commits.read(() => (Object.hasOwn(data.policies, hash) ? data.policies[hash].policy : undefined)),
      stats: (q) => commits.read(() => computeStats(records.values(), Object.keys(data.groups).length, data.counters, q)),
      async close() {
        if (closed) return;
        closed = true;
        live.final();
        await commits.kick();
        if (journal) {
          await journal.close();
          if (!live.dirty) await unlink(paths.journal).catch(() => {});
        }
        await release();
      },
    };
  } catch (e) {
    await journal?.close().catch(() => {});
    await release();
    throw e;
  }
}
