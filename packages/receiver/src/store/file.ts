import { open, readFile, rename, stat, truncate, unlink, type FileHandle } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { Low, type Adapter } from 'lowdb';
import type { ViolationRecord } from '@csp-lens/schema';
import type { IngestBatch, Store } from '../types.js';
import { type State, type StoreData, createState, emptyData } from './state.js';
import { computeStats, queryGroups, queryViolations } from './query.js';
import { acquireLock } from './lock.js';

export interface FileStoreOptions {
  /** The lowdb JSON file. Records past `maxRecords` go to `<path>.archive.jsonl`. */
  path: string;
  maxRecords?: number;
  mergeWindowMs?: number;
  groupCapPerMinute?: number;
  /**
   * DESIGN §5. On: the durable step of a group commit is an fsync'd append of its batches to
   * `<path>.journal.jsonl`, and the live file is a checkpoint rewritten from memory every
   * `checkpointMs` (default 30 s) or `checkpointBytes` of journal (default 32 MiB) and on close;
   * opening replays the journal past the checkpoint. Off (default): every commit rewrites the file,
   * so the live file alone always holds every acknowledged record.
   */
  journal?: boolean | { checkpointMs?: number; checkpointBytes?: number };
}

/** Written into the live file by a journal checkpoint: what it already contains. */
interface Checkpoint {
  /** Journal entries up to this number are in this file (or the archive). */
  batches: number;
  /** The archive's size when this file was written; anything past it came from a later commit. */
  archiveBytes: number;
}
type FileData = StoreData & { checkpoint?: Checkpoint };

/** One journal line: a batch as the store received it, numbered. */
interface Entry {
  n: number;
  b: IngestBatch;
  f?: Record<string, number>;
}

/**
 * lowdb's JSONFile renames a temp file into place (atomic) but never fsyncs, so an acknowledged
 * write could vanish with the machine. This adapter syncs the data before the rename and the
 * directory after it; it also writes compact JSON (the store is for machines, and 30% smaller).
 */
class SyncedJSONFile implements Adapter<FileData> {
  constructor(private readonly file: string) {}

  async read(): Promise<FileData | null> {
    const fh = await open(this.file, 'r').catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') return undefined;
      throw e;
    });
    if (!fh) return null;
    try {
      return JSON.parse(await fh.readFile('utf8')) as FileData;
    } catch (e) {
      throw new Error(`csp-lens: ${this.file} is not a csp-lens store (${(e as Error).message})`);
    } finally {
      await fh.close();
    }
  }

  async write(data: FileData): Promise<void> {
    // Serialized before the first await: the file is the state of the moment write() was called,
    // even though ingestion goes on while it is written.
    const text = JSON.stringify(data);
    const tmp = `${this.file}.tmp`;
    const fh = await open(tmp, 'w');
    try {
      await fh.writeFile(text);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, this.file);
    await syncDir(dirname(this.file));
  }
}

async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Appends and syncs; returns the file's size after the append. */
async function appendSynced(file: string, lines: string): Promise<number> {
  const fh = await open(file, 'a');
  try {
    await fh.appendFile(lines);
    await fh.sync();
    return (await fh.stat()).size;
  } finally {
    await fh.close();
  }
}

const sizeOf = (file: string) => stat(file).then((s) => s.size, () => 0);
const toLines = (records: ViolationRecord[]) => records.map((r) => JSON.stringify(r)).join('\n') + '\n';

/**
 * A kill -9 mid-append can leave the archive's last line torn (its records are still in the live
 * file). End it, so the next append starts a line of its own instead of gluing onto the fragment.
 */
async function endTornLine(file: string): Promise<void> {
  const fh = await open(file, 'r+').catch(() => undefined);
  if (!fh) return;
  try {
    const { size } = await fh.stat();
    const { buffer } = await fh.read(Buffer.alloc(1), 0, 1, Math.max(0, size - 1));
    if (size && buffer[0] !== 0x0a) {
      await fh.write('\n', size);
      await fh.sync();
    }
  } finally {
    await fh.close();
  }
}

/**
 * Applies the journal's entries past the checkpoint. A line that does not parse was torn by a
 * crash mid-append: its commit never completed, so nobody was acknowledged for it.
 */
async function replay(file: string, state: State, after: number): Promise<{ batches: number; evicted: ViolationRecord[]; replayed: number }> {
  const text = await readFile(file, 'utf8').catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return '';
    throw e;
  });
  let batches = after;
  let replayed = 0;
  const evicted: ViolationRecord[] = [];
  for (const line of text.split('\n')) {
    let entry: Entry;
    try {
      entry = JSON.parse(line) as Entry;
    } catch {
      continue;
    }
    if (!(entry?.n > after) || !entry.b) continue;
    try {
      evicted.push(...state.ingest(entry.b, entry.f));
      replayed++;
    } catch (e) {
      console.error(`csp-lens: skipped journal entry ${entry.n} of ${file}: ${(e as Error).message}`);
    }
    batches = Math.max(batches, entry.n);
  }
  return { batches, evicted, replayed };
}

/** The default store: one lowdb JSON file, group commits, an append-only archive. */
export async function openFileStore(options: FileStoreOptions): Promise<Store> {
  if (typeof options.path !== 'string' || !options.path) throw new Error('csp-lens: the store needs a file path (--db)');
  const path = resolve(options.path);
  const release = await acquireLock(path);
  try {
    const db = new Low<FileData>(new SyncedJSONFile(path), emptyData());
    await db.read();
    if (db.data?.version !== 1 || !Array.isArray(db.data.records)) {
      throw new Error(`csp-lens: ${path} is not a csp-lens store (unknown version)`);
    }
    const base = path.replace(/\.json$/, '');
    const paths = { db: path, archive: `${base}.archive.jsonl`, journal: `${base}.journal.jsonl` };
    const checkpoint = db.data.checkpoint;
    delete db.data.checkpoint;
    // A crash between a checkpoint's archive append and its rename leaves archive lines the
    // journal replay below evicts again: cut them, so each record is archived exactly once.
    if (checkpoint && (await sizeOf(paths.archive)) > checkpoint.archiveBytes) await truncate(paths.archive, checkpoint.archiveBytes);
    await endTornLine(paths.archive);
    const state = createState(db.data, {
      maxRecords: options.maxRecords ?? 10_000,
      mergeWindowMs: options.mergeWindowMs ?? 10_000,
      groupCapPerMinute: options.groupCapPerMinute ?? 100,
    });
    // Replayed whatever the mode, so switching the journal off never drops what it held.
    const { batches, evicted, replayed } = await replay(paths.journal, state, checkpoint?.batches ?? 0);
    const journal = options.journal
      ? { checkpointMs: 30_000, checkpointBytes: 32 * 1024 * 1024, ...(typeof options.journal === 'object' ? options.journal : {}) }
      : undefined;
    const store = fileStore({ db, state, paths, release, journal, batches, evicted });
    await store.ready(replayed > 0);
    return store;
  } catch (e) {
    await release();
    throw e;
  }
}

interface Setup {
  db: Low<FileData>;
  state: State;
  paths: { db: string; archive: string; journal: string };
  release: () => Promise<void>;
  journal?: { checkpointMs: number; checkpointBytes: number };
  batches: number;
  evicted: ViolationRecord[];
}

function fileStore({ db, state, paths, release, journal, batches, evicted: replayedEvictions }: Setup): Store & { ready(dirty: boolean): Promise<void> } {
  let archive: ViolationRecord[] = replayedEvictions;
  let pending: { promise: Promise<void>; resolve(): void; reject(e: unknown): void } | undefined;
  let writing: Promise<void> | undefined;
  let closed = false;
  // Journal mode: lines not yet appended, the open journal, its size since the last checkpoint.
  let lines: string[] = [];
  let jfh: FileHandle | undefined;
  let journalBytes = 0;
  let torn = false;
  let archiveBytes = 0;
  let lastCheckpoint = Date.now();
  let forceCheckpoint = false;
  let retryAt = 0;
  let idle: ReturnType<typeof setTimeout> | undefined;

  // Rewrite mode's durable step: the archive, then the whole live file.
  async function rewrite(): Promise<void> {
    const evicted = archive;
    archive = [];
    // Snapshot together with the evictions: records evicted while the archive append is in flight
    // must stay in this write's live file, since the archive will only have them one write later.
    const snapshot = state.snapshot();
    // Archive first: a crash between the two leaves a record in both files, never in neither.
    if (evicted.length) await appendSynced(paths.archive, toLines(evicted));
    db.data = snapshot;
    await db.write();
  }

  // Journal mode's durable step: one append and one fdatasync for every batch of this commit.
  async function appendJournal(): Promise<void> {
    if (!lines.length) return;
    // After a failed write the file may end in a fragment: start on a line of our own.
    const text = (torn ? '\n' : '') + lines.join('\n') + '\n';
    lines = [];
    torn = true;
    await jfh!.write(text);
    await jfh!.datasync();
    torn = false;
    journalBytes += text.length;
  }

  /**
   * The live file rewritten from memory, then the journal emptied. Evictions are archived first,
   * until none raced the append, so that the snapshot and the archive split the records exactly;
   * the checkpoint records the archive's size for the crash case (see openFileStore).
   */
  async function checkpoint(): Promise<void> {
    while (archive.length) {
      const evicted = archive;
      archive = [];
      try {
        archiveBytes = await appendSynced(paths.archive, toLines(evicted));
      } catch (e) {
        archive = evicted.concat(archive);
        throw e;
      }
    }
    db.data = { ...state.snapshot(), checkpoint: { batches, archiveBytes } };
    await db.write();
    // Lines still waiting to be appended belong to batches this checkpoint holds: replay skips them.
    await jfh!.truncate(0);
    await jfh!.sync();
    journalBytes = 0;
    lastCheckpoint = Date.now();
  }

  const checkpointDue = () =>
    !!journal &&
    (forceCheckpoint ||
      (journalBytes > 0 && Date.now() >= retryAt && (journalBytes >= journal.checkpointBytes || Date.now() - lastCheckpoint >= journal.checkpointMs)));

  // Group commit: at most one write in flight; everything applied meanwhile rides the next one.
  async function drain(): Promise<void> {
    clearTimeout(idle);
    while (pending || checkpointDue()) {
      const batch = pending;
      pending = undefined;
      if (batch) {
        try {
          await (journal ? appendJournal() : rewrite());
          batch.resolve();
        } catch (e) {
          batch.reject(e);
        }
      }
      if (checkpointDue()) {
        forceCheckpoint = false;
        // The journal stays the durable copy when a checkpoint fails: report it, keep serving.
        await checkpoint().catch((e: Error) => {
          retryAt = Date.now() + 5_000;
          console.error(`csp-lens: checkpoint of ${paths.db} failed (retrying in 5 s): ${e.message}`);
        });
      }
    }
    writing = undefined;
    // A quiet receiver still gets its live file up to date within checkpointMs.
    if (journal && journalBytes > 0 && !closed) {
      idle = setTimeout(() => {
        forceCheckpoint = true;
        writing ??= drain();
      }, journal.checkpointMs);
      idle.unref();
    }
  }

  function commit(): Promise<void> {
    if (!pending) {
      let resolve!: () => void;
      let reject!: (e: unknown) => void;
      const promise = new Promise<void>((res, rej) => ((resolve = res), (reject = rej)));
      pending = { promise, resolve, reject };
    }
    const { promise } = pending;
    writing ??= drain();
    return promise;
  }

  return {
    async ready(dirty) {
      archiveBytes = await sizeOf(paths.archive);
      if (!journal && !dirty) return;
      jfh = await open(paths.journal, 'a');
      await syncDir(dirname(paths.journal));
      // What the replay rebuilt becomes a checkpoint before anything new arrives (in both modes:
      // its `batches` keeps a crash before the journal is emptied from replaying it twice), and a
      // journal store has a parseable live file from its first moment on.
      if (dirty || !(await sizeOf(paths.db))) await checkpoint();
      if (!journal) {
        await jfh.close();
        jfh = undefined;
        await unlink(paths.journal).catch(() => {});
      }
    },
    append(batch: IngestBatch, filtered?: Record<string, number>) {
      if (closed) return Promise.reject(new Error('csp-lens: the store is closed'));
      // Serialized before ingest: merging may attach the batch's objects to records.
      const line = journal ? JSON.stringify({ n: batches + 1, b: batch, ...(filtered && Object.keys(filtered).length ? { f: filtered } : {}) }) : '';
      archive.push(...state.ingest(batch, filtered));
      if (journal) {
        batches++;
        lines.push(line);
      }
      return commit();
    },
    async violations(q) {
      return queryViolations(state.records.values(), q);
    },
    async groups(q) {
      return queryGroups(state.data.groups, q);
    },
    async group(id) {
      const group = Object.hasOwn(state.data.groups, id) ? state.data.groups[id] : undefined;
      if (!group) return undefined;
      const { items } = queryViolations(state.records.values(), { groupId: id, limit: 50 });
      const example = state.records.get(group.exampleId) ?? items[0];
      const policy = example?.policyHash ? state.data.policies[example.policyHash]?.policy : undefined;
      return { group, records: items, ...(policy ? { policy } : {}) };
    },
    async policy(hash) {
      return Object.hasOwn(state.data.policies, hash) ? state.data.policies[hash].policy : undefined;
    },
    async stats(q) {
      return computeStats(state.records.values(), Object.keys(state.data.groups).length, state.data.counters, q);
    },
    async close() {
      if (closed) return;
      closed = true;
      clearTimeout(idle);
      if (pending || archive.length) commit().catch(() => {});
      await writing;
      if (journal && jfh) {
        forceCheckpoint = true;
        await (writing ??= drain());
        const empty = journalBytes === 0 && !lines.length;
        await jfh.close();
        if (empty) await unlink(paths.journal).catch(() => {});
      }
      await release();
    },
  };
}
