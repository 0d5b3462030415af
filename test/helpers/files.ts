import { copyFileSync, existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import type { ViolationRecord } from '@csp-lens/schema';

// A file store's files as they are on disk (store.test, crash.test): what a kill -9 would leave.

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
  const journaled = journal.items.filter((e) => e.n > after && e.b).flatMap((e) => e.b.violations.map((v) => v.documentURL));
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
