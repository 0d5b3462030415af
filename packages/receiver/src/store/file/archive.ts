import { readdir, rename, unlink } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import type { ViolationRecord } from '@csp-lens/schema';
import { appendSynced, syncDir } from './adapter.js';

export interface ArchiveOptions {
  /**
   * The open segment (`<db>.archive.jsonl`) is sealed at a checkpoint once it holds this many bytes:
   * renamed to `<db>.archive.<n>.jsonl`, n = 1, 2, … (default 64 MiB; 0: one file, never sealed).
   */
  segmentBytes?: number;
  /** Sealed segments kept, the newest; older ones are deleted (default 0: all kept, nothing deleted). */
  keep?: number;
}

const DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024;

/** The open segment's file: the archive's newest records. */
export const openSegmentPath = (base: string): string => `${base}.archive.jsonl`;
/** The file of sealed segment `n`. */
export const segmentPath = (base: string, n: number): string => `${base}.archive.${n}.jsonl`;

/** The numbers of the sealed segments on disk, oldest first. */
export async function sealedSegments(base: string): Promise<number[]> {
  const prefix = `${basename(base)}.archive.`;
  const names = await readdir(dirname(base)).catch(() => [] as string[]);
  const out: number[] = [];
  for (const name of names) {
    if (!name.startsWith(prefix) || !name.endsWith('.jsonl')) continue;
    const n = name.slice(prefix.length, -'.jsonl'.length);
    if (/^[1-9]\d*$/.test(n)) out.push(Number(n));
  }
  return out.sort((a, b) => a - b);
}

/** Every archive file of the store, oldest first: the sealed segments, then the open one. */
export const archiveFiles = async (base: string): Promise<string[]> => [...(await sealedSegments(base)).map((n) => segmentPath(base, n)), openSegmentPath(base)];

/**
 * Records evicted from the live window on their way to the append-only archive (`<db>.archive.jsonl`).
 * They leave the queue only once an append holding them is synced: after a failed append (disk
 * full) they stay queued for the next attempt, so an eviction never drops a record. At checkpoints
 * the open segment is sealed once it is large enough (`seal`), and sealed segments past `keep` are
 * deleted (`prune`): what the operator asked for, the only way the archive ever loses a record.
 */
export function createArchive(base: string, size: number, sealed: number, options: ArchiveOptions = {}) {
  const path = openSegmentPath(base);
  const segmentBytes = options.segmentBytes ?? DEFAULT_SEGMENT_BYTES;
  const keep = options.keep ?? 0;
  for (const [name, n] of [['segmentBytes', segmentBytes], ['keep', keep]] as const) {
    if (!Number.isSafeInteger(n) || n < 0) throw new Error(`csp-lens: archive ${name} must be an integer ≥ 0, got ${JSON.stringify(n)}`);
  }
  let queued: ViolationRecord[] = [];
  return {
    /** The open segment's size after our last append; a checkpoint records it (see journal.ts). */
    get bytes(): number {
      return size;
    },
    /** The number of the newest sealed segment (0: none); a checkpoint records it too. */
    get sealed(): number {
      return sealed;
    },
    get queued(): number {
      return queued.length;
    },
    push(records: ViolationRecord[]): void {
      // A loop, not push(...records): a replay can evict more records than a call takes arguments.
      for (const r of records) queued.push(r);
    },
    /** Takes the queued records `match` selects out of the queue (an erasure); returns them. */
    forget(match: (r: ViolationRecord) => boolean): ViolationRecord[] {
      const gone = queued.filter(match);
      if (gone.length) queued = queued.filter((r) => !match(r));
      return gone;
    },
    /** The open segment was rewritten without some of its lines (an erasure): its size now. */
    resized(bytes: number): void {
      size = bytes;
    },
    async flush(): Promise<void> {
      while (queued.length) {
        const batch = queued;
        queued = [];
        try {
          size = await appendSynced(path, batch.map((r) => JSON.stringify(r)).join('\n') + '\n');
        } catch (e) {
          queued = batch.concat(queued);
          throw e;
        }
      }
    },
    /** Seals the open segment if it is full; says whether it did. Call right after `flush`, before writing a checkpoint. */
    async seal(): Promise<boolean> {
      if (!segmentBytes || size < segmentBytes) return false;
      await rename(path, segmentPath(base, sealed + 1));
      await syncDir(dirname(path));
      sealed++;
      size = 0;
      return true;
    },
    /** Deletes the sealed segments older than the newest `keep`; returns the files it removed. */
    async prune(): Promise<string[]> {
      if (!keep) return [];
      const removed: string[] = [];
      for (const n of await sealedSegments(base)) {
        if (n > sealed - keep) break;
        const file = segmentPath(base, n);
        await unlink(file).catch((e: NodeJS.ErrnoException) => {
          if (e.code !== 'ENOENT') throw e;
        });
        removed.push(file);
      }
      return removed;
    },
  };
}

export type Archive = ReturnType<typeof createArchive>;
