import type { ViolationRecord } from '@csp-lens/schema';
import { appendSynced } from './adapter.js';

/**
 * Records evicted from the live window on their way to the append-only archive (`<db>.archive.jsonl`).
 * They leave the queue only once an append holding them is synced: after a failed append (disk
 * full) they stay queued for the next attempt, so an eviction never drops a record.
 */
export function createArchive(path: string, size: number) {
  let queued: ViolationRecord[] = [];
  return {
    /** The file's size after our last append; a checkpoint records it (see journal.ts). */
    get bytes(): number {
      return size;
    },
    get queued(): number {
      return queued.length;
    },
    push(records: ViolationRecord[]): void {
      // A loop, not push(...records): a replay can evict more records than a call takes arguments.
      for (const r of records) queued.push(r);
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
  };
}

export type Archive = ReturnType<typeof createArchive>;
