import { open, readFile, truncate } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { ViolationRecord } from '@csp-lens/schema';
import type { IngestBatch } from '../types.js';
import type { State } from './state.js';
import { endTornLine, sizeOf, syncDir } from './adapter.js';

// DESIGN §5. The durable step of a group commit is one append + fdatasync of its batches to
// `<db>.journal.jsonl`, numbered; the live file is a checkpoint, rewritten from memory now and then,
// that says which entries it holds. Opening replays the entries past it.

/** Written into the live file by a checkpoint: what it already contains. */
export interface Checkpoint {
  /** Journal entries up to this number are in this file (or the archive). */
  batches: number;
  /** The archive's size when this file was written; anything past it came from a later commit. */
  archiveBytes: number;
}

/** One journal line: a batch as the store received it, numbered. */
interface Entry {
  n: number;
  b: IngestBatch;
  f?: Record<string, number>;
}

/** An entry without its number, serialized on arrival: merging may later attach the batch's objects to records. */
export function entryBody(batch: IngestBatch, filtered?: Record<string, number>): string {
  return JSON.stringify({ b: batch, ...(filtered && Object.keys(filtered).length ? { f: filtered } : {}) }).slice(1);
}

export const entryLine = (n: number, body: string): string => `{"n":${n},${body}`;

export interface Paths {
  db: string;
  archive: string;
  journal: string;
}

/**
 * Brings the files a crash left back in line with the live file's checkpoint, then applies the
 * journal's entries past it to `state`. Returns the last entry number and what the replay evicted.
 */
export async function recover(paths: Paths, checkpoint: Checkpoint | undefined, state: State) {
  // A crash between a checkpoint's archive append and its rename leaves archive lines the replay
  // below evicts again: cut them, so each record is archived exactly once.
  if (checkpoint && (await sizeOf(paths.archive)) > checkpoint.archiveBytes) await truncate(paths.archive, checkpoint.archiveBytes);
  await endTornLine(paths.journal);
  const text = await readFile(paths.journal, 'utf8').catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return '';
    throw e;
  });
  let batches = checkpoint?.batches ?? 0;
  let replayed = 0;
  const evicted: ViolationRecord[] = [];
  for (const line of text.split('\n')) {
    let entry: Entry;
    try {
      entry = JSON.parse(line) as Entry;
    } catch {
      continue; // torn by a crash mid-append: that commit never completed, nobody was acknowledged
    }
    // Numbers only grow: a lower one is in the checkpoint already, or a retried append wrote it twice.
    if (!(entry?.n > batches) || !entry.b) continue;
    batches = entry.n;
    try {
      for (const r of state.ingest(entry.b, entry.f)) evicted.push(r);
      replayed++;
    } catch (e) {
      console.error(`csp-lens: skipped journal entry ${entry.n} of ${paths.journal}: ${(e as Error).message}`);
    }
  }
  return { batches, evicted, replayed };
}

/** The open journal. Its entries are applied in memory before they are written. */
export async function openJournal(path: string) {
  const fh = await open(path, 'a');
  await syncDir(dirname(path));
  // Lines of applied entries whose append failed (disk full): they go out with the next one, so
  // the journal never skips an entry that later ones were merged with.
  let unwritten: string[] = [];
  let torn = false;
  let bytes = 0;
  return {
    /** Written since the last checkpoint (roughly: UTF-16 units). */
    get bytes(): number {
      return bytes;
    },
    async append(lines: string[]): Promise<void> {
      const all = unwritten.length ? unwritten.concat(lines) : lines;
      unwritten = [];
      if (!all.length) return;
      // After a failed write the file may end in a fragment: start on a line of our own.
      const text = (torn ? '\n' : '') + all.join('\n') + '\n';
      torn = true;
      try {
        await fh.write(text);
        await fh.datasync();
      } catch (e) {
        unwritten = all;
        throw e;
      }
      torn = false;
      bytes += text.length;
    },
    /** After a checkpoint: every entry applied so far is in the live file. */
    async reset(): Promise<void> {
      unwritten = [];
      await fh.truncate(0);
      await fh.sync();
      bytes = 0;
      torn = false;
    },
    close: () => fh.close(),
  };
}

export type Journal = Awaited<ReturnType<typeof openJournal>>;
