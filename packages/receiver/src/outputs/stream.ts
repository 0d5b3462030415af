import { createWriteStream, openSync } from 'node:fs';
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import type { StoredViolation } from '../core/types.js';

export interface JsonlStreamOptions {
  /** A file to append to, or `-` (the default) for stdout. */
  path?: string;
  /** Any writable instead (tests, embedding). */
  out?: Writable;
  /** Lines held while the destination is slow; past it lines are dropped and counted. Default 10 000. */
  maxPending?: number;
  log?: (message: string) => void;
}

export interface JsonlStream {
  onStored(stored: StoredViolation[]): void;
  /** Writes what is pending and closes a file (stdout stays open). */
  close(): Promise<void>;
  /** Lines handed to the destination, and lines dropped (full buffer, broken destination). */
  stats(): { written: number; dropped: number };
}

/**
 * One JSON object per line for every stored violation (SIEM, log shippers): the normalized report
 * plus `at` (ISO time it happened, server clock), and the `groupId` and `recordId` the store gave
 * it. Never throws into ingest: a slow destination buffers up to `maxPending` lines, a broken one
 * drops them and says so once.
 */
export function createJsonlStream(options: JsonlStreamOptions = {}): JsonlStream {
  const log = options.log ?? ((m: string) => console.error(m));
  const toFile = !options.out && !!options.path && options.path !== '-';
  let out: Writable;
  if (options.out) out = options.out;
  else if (toFile) {
    // Open now so a bad path fails at start, with a message, not at the first violation.
    let fd: number;
    try {
      fd = openSync(options.path!, 'a');
    } catch (e) {
      throw new Error(`csp-lens: --stream cannot open ${options.path}: ${(e as Error).message}`);
    }
    out = createWriteStream('', { fd });
  } else out = process.stdout;
  const maxPending = options.maxPending ?? 10_000;
  const pending: string[] = [];
  let written = 0;
  let dropped = 0;
  let broken = false;

  const flush = () => {
    while (pending.length && !broken) {
      const lines = pending.splice(0, 500);
      written += lines.length;
      if (!out.write(lines.join(''))) return;
    }
  };
  out.on('drain', flush);
  out.on('error', (e) => {
    if (!broken) log(`csp-lens: the JSON-lines stream failed, lines are dropped from now on: ${e.message}`);
    broken = true;
    dropped += pending.length;
    pending.length = 0;
  });

  return {
    onStored(stored) {
      for (const { violation: v, record } of stored) {
        if (broken || pending.length >= maxPending) {
          dropped++;
          continue;
        }
        let line: string;
        try {
          line = `${JSON.stringify({ at: new Date(v.occurredAt).toISOString(), groupId: record.groupId, recordId: record.id, ...v })}\n`;
        } catch {
          dropped++;
          continue;
        }
        // Write through while the destination keeps up; queue behind it once it pushes back.
        if (pending.length || out.writableNeedDrain) pending.push(line);
        else {
          written++;
          out.write(line);
        }
      }
    },
    async close() {
      flush();
      // A destination that never drains (a stuck pipe) must not hold up shutdown for long.
      const giveUp = AbortSignal.timeout(5_000);
      while ((pending.length || out.writableNeedDrain) && !broken && !giveUp.aborted) {
        await once(out, 'drain', { signal: giveUp }).catch(() => undefined);
        flush();
      }
      dropped += pending.length;
      pending.length = 0;
      if (toFile && !broken) await new Promise<void>((resolve) => out.end(() => resolve()));
    },
    stats: () => ({ written, dropped }),
  };
}
