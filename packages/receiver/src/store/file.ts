import { open, rename } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { Low, type Adapter } from 'lowdb';
import type { ViolationRecord } from '@csp-lens/schema';
import type { IngestBatch, Store } from '../types.js';
import { type StoreData, createState, emptyData } from './state.js';
import { computeStats, queryGroups, queryViolations } from './query.js';
import { acquireLock } from './lock.js';

export interface FileStoreOptions {
  /** The lowdb JSON file. Records past `maxRecords` go to `<path>.archive.jsonl`. */
  path: string;
  maxRecords?: number;
  mergeWindowMs?: number;
  groupCapPerMinute?: number;
}

/**
 * lowdb's JSONFile renames a temp file into place (atomic) but never fsyncs, so an acknowledged
 * write could vanish with the machine. This adapter syncs the data before the rename and the
 * directory after it; it also writes compact JSON (the store is for machines, and 30% smaller).
 */
class SyncedJSONFile implements Adapter<StoreData> {
  constructor(private readonly file: string) {}

  async read(): Promise<StoreData | null> {
    const fh = await open(this.file, 'r').catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') return undefined;
      throw e;
    });
    if (!fh) return null;
    try {
      return JSON.parse(await fh.readFile('utf8')) as StoreData;
    } catch (e) {
      throw new Error(`csp-lens: ${this.file} is not a csp-lens store (${(e as Error).message})`);
    } finally {
      await fh.close();
    }
  }

  async write(data: StoreData): Promise<void> {
    const tmp = `${this.file}.tmp`;
    const fh = await open(tmp, 'w');
    try {
      await fh.writeFile(JSON.stringify(data));
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

async function appendSynced(file: string, lines: string): Promise<void> {
  const fh = await open(file, 'a');
  try {
    await fh.appendFile(lines);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** The default store: one lowdb JSON file, group commits, an append-only archive. */
export async function openFileStore(options: FileStoreOptions): Promise<Store> {
  if (typeof options.path !== 'string' || !options.path) throw new Error('csp-lens: the store needs a file path (--db)');
  const path = resolve(options.path);
  const release = await acquireLock(path);
  try {
    const db = new Low<StoreData>(new SyncedJSONFile(path), emptyData());
    await db.read();
    if (db.data?.version !== 1 || !Array.isArray(db.data.records)) {
      throw new Error(`csp-lens: ${path} is not a csp-lens store (unknown version)`);
    }
    const state = createState(db.data, {
      maxRecords: options.maxRecords ?? 10_000,
      mergeWindowMs: options.mergeWindowMs ?? 10_000,
      groupCapPerMinute: options.groupCapPerMinute ?? 100,
    });
    const archivePath = `${path.replace(/\.json$/, '')}.archive.jsonl`;
    return fileStore(db, state, archivePath, release);
  } catch (e) {
    await release();
    throw e;
  }
}

function fileStore(db: Low<StoreData>, state: ReturnType<typeof createState>, archivePath: string, release: () => Promise<void>): Store {
  let archive: ViolationRecord[] = [];
  let pending: { promise: Promise<void>; resolve(): void; reject(e: unknown): void } | undefined;
  let writing: Promise<void> | undefined;
  let closed = false;

  // Group commit: at most one write in flight; everything applied meanwhile rides the next one.
  async function drain(): Promise<void> {
    while (pending) {
      const batch = pending;
      pending = undefined;
      const evicted = archive;
      archive = [];
      try {
        // Archive first: a crash between the two leaves a record in both files, never in neither.
        if (evicted.length) await appendSynced(archivePath, evicted.map((r) => JSON.stringify(r)).join('\n') + '\n');
        db.data = state.snapshot();
        await db.write();
        batch.resolve();
      } catch (e) {
        batch.reject(e);
      }
    }
    writing = undefined;
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
    append(batch: IngestBatch, filtered?: Record<string, number>) {
      if (closed) return Promise.reject(new Error('csp-lens: the store is closed'));
      archive.push(...state.ingest(batch, filtered));
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
      if (pending || archive.length) commit().catch(() => {});
      await writing;
      await release();
    },
  };
}
