import type { Low } from 'lowdb';
import type { State } from '../../core/state.js';
import type { Archive } from './archive.js';
import type { Journal } from './journal.js';
import type { FileData } from './livefile.js';
import type { Clock } from '../clock.js';
import type { EraseFilter } from '../../core/erase.js';

interface Setup {
  db: Low<FileData>;
  /** The live state (replaced when a failed whole-file commit is taken back). */
  state: () => State;
  archive: () => Archive;
  journal?: Journal;
  /** The last journal entry number the state holds. */
  batches: number;
  checkpointMs: number;
  checkpointBytes: number;
  clock: Clock;
  /** Erasures whose archive lines may still be on disk (the checkpoint names them: erase.ts). */
  erasing: () => EraseFilter[];
}

/**
 * When and how the live file is rewritten from memory: with the journal, every `checkpointMs`,
 * every `checkpointBytes` of journal, when idle and on close; without it, on every commit.
 */
export function checkpoints({ db, state, archive: arch, journal, batches, checkpointMs, checkpointBytes, clock, erasing }: Setup) {
  let applied = batches;
  let dirty = false; // applied since the last checkpoint
  let force = false;
  let last = clock.now();
  let retryAt = 0;
  let timer: unknown;

  // At most one seal between two checkpoints that landed: open can then tell the one segment sealed
  // after the last checkpoint it reads (see `recover`).
  let sealedSince = false;

  // Evictions are archived first: a crash between the two leaves a record in both files (open cuts
  // the archive back to `archiveBytes`), never in neither.
  async function write(): Promise<void> {
    const archive = arch();
    await archive.flush();
    if (!sealedSince) sealedSince = await archive.seal();
    const pending = erasing();
    db.data = { ...state().snapshot(), checkpoint: { batches: applied, archiveBytes: archive.bytes, archiveSealed: archive.sealed, ...(pending.length ? { erasing: pending } : {}) } };
    await db.write();
    sealedSince = false;
    await journal?.reset();
    dirty = false;
    last = clock.now();
    // Deleting old segments is housekeeping: a failure is reported and tried again next time.
    await archive.prune().then(
      (files) => files.forEach((f) => console.log(`csp-lens: deleted archive segment ${f} (past --archive-keep)`)),
      (e: Error) => console.error(`csp-lens: could not delete an old archive segment: ${e.message}`),
    );
  }

  return {
    write,
    get dirty(): boolean {
      return dirty;
    },
    /** Numbers for the next `n` batches (their journal entries), used or not: numbers only grow. */
    reserve(n: number): number {
      const first = applied + 1;
      applied += n;
      return first;
    },
    /** Memory was reloaded from the files (a failed whole-file commit taken back): it holds up to `n`. */
    rebase(n: number): void {
      applied = n;
      dirty = false;
      sealedSince = false;
    },
    /** Batches were applied in memory since the last checkpoint. */
    changed(): void {
      dirty = true;
    },
    due(): boolean {
      if (!dirty) return false;
      if (force || !journal) return force;
      const now = clock.now();
      return now >= retryAt && (journal.bytes >= checkpointBytes || now - last >= checkpointMs);
    },
    async run(path: string): Promise<void> {
      force = false;
      // The journal (without it, the last good live file) stays the durable copy: report, keep serving.
      await write().catch((e: Error) => {
        retryAt = clock.now() + 5_000;
        console.error(`csp-lens: checkpoint of ${path} failed (retrying): ${e.message}`);
      });
    },
    /** A quiet receiver still gets its live file up to date (or a failed write retried) within checkpointMs. */
    idle(kick: () => void): void {
      clock.clearTimeout(timer);
      if (!dirty) return;
      timer = clock.setTimeout(() => ((force = true), kick()), checkpointMs);
    },
    /** On close: the next due() asks for a last checkpoint if anything is not in the live file. */
    final(): void {
      clock.clearTimeout(timer);
      force = true;
    },
    stop: () => clock.clearTimeout(timer),
  };
}

export type Checkpoints = ReturnType<typeof checkpoints>;
