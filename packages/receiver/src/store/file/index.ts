import { unlink } from 'node:fs/promises';
import { resolve } from 'node:path';
import { Low } from 'lowdb';
import type { ViolationGroup } from '@csp-lens/schema';
import type { AppendOptions, EraseFilter, EraseResult, IngestBatch, Store, StoredViolation } from '../../core/types.js';
import type { TriageChange } from '../../core/triage.js';
import { type BreakdownRow, breakdown, recordRow } from '../../core/breakdown.js';
import { checkEraseFilter } from '../../core/erase.js';
import { type State, createState, emptyData } from '../../core/state.js';
import { type CoreOptions, applySeverity, coreOptions } from '../../core/options.js';
import { computeStats, groupsOn, queryGroups, queryViolations } from '../../core/query.js';
import { acquireLock } from './lock.js';
import { SyncedJSONFile, sizeOf } from './adapter.js';
import { type ArchiveOptions, createArchive, openSegmentPath, sealedSegments } from './archive.js';
import { type EntryBody, type Journal, type Paths, entryBody, openJournal, recover, triageEntryBody } from './journal.js';
import { checkpoints } from './checkpoint.js';
import { createEraser, replayErasure } from './erase.js';
import { type FileData, liveFileChunks } from './livefile.js';
import { type Outcome, groupCommit, slicer, turn } from '../commit.js';
import { type Clock, realClock } from '../clock.js';

export interface FileStoreOptions extends CoreOptions {
  /** The lowdb JSON file. Records past `maxRecords` go to `<path>.archive.jsonl`. */
  path: string;
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
  /** The checkpoints' timers: the real clock unless a test passes one it advances. */
  clock?: Clock;
}

// A commit carries appends and triage changes alike: both are journal lines, numbered in one
// sequence, so a replay applies them in the order they were acknowledged.
type Append =
  | { batch: IngestBatch; filtered?: Record<string, number>; body?: EntryBody }
  | { triage: { id: string; change: TriageChange }; body?: EntryBody };
/** An erasure commits alone (see `take`). */
type Erase = { erase: EraseFilter; by?: string };
type Item = Append | Erase;
type Result = StoredViolation[] | ViolationGroup | undefined | EraseResult;

/** Applying a big commit gives the event loop a turn this often (ms): no request waits on one. */
const SLICE_MS = 8;

/** Evicted records held in memory, at most, before a journal commit appends them to the archive. */
const ARCHIVE_EVERY = 1000;

/** The default store: one lowdb JSON file, group commits, a journal, an append-only archive. */
export async function openFileStore(options: FileStoreOptions): Promise<Store> {
  if (typeof options.path !== 'string' || !options.path) throw new Error('csp-lens: the store needs a file path (--db)');
  // The live file is read whole at open: coreOptions keeps its budget within what one string holds.
  const tuning = coreOptions(options);
  const path = resolve(options.path);
  const release = await acquireLock(path);
  let journal: Journal | undefined;
  try {
    const db = new Low<FileData>(new SyncedJSONFile(path, liveFileChunks), emptyData());
    const base = path.replace(/\.json$/, '');
    const paths: Paths = { db: path, base, archive: openSegmentPath(base), journal: `${base}.journal.jsonl` };

    /** Memory from the files: the live file, then the journal past its checkpoint. */
    async function load() {
      await db.read();
      if ((db.data?.version !== 1 && db.data?.version !== 2) || !Array.isArray(db.data.records)) {
        throw new Error(`csp-lens: ${path} is not a csp-lens store (unknown version)`);
      }
      const saved = db.data.checkpoint;
      delete db.data.checkpoint;
      const state = createState(db.data, tuning);
      // Erasures the live file holds whose archive lines may remain, then those the journal replays.
      const erasing = [...(saved?.erasing ?? [])];
      // Replayed whatever the mode, so switching the journal off never drops what it held.
      const { batches, evicted, replayed } = await recover(paths, saved, state, replayErasure(base, state, erasing));
      // Numbering goes on after the newest sealed segment on disk, so a seal never overwrites one.
      const sealed = Math.max(saved?.archiveSealed ?? 0, ...(await sealedSegments(base)));
      const archive = createArchive(base, await sizeOf(paths.archive), sealed, options.archive);
      archive.push(evicted);
      // What the replay rebuilt becomes a checkpoint before anything new arrives (its `batches`
      // keeps a crash before the journal is emptied from replaying it twice), and so does a segment
      // sealed after the checkpoint read (a crash before the next one landed): the live file must
      // name it before another seal may happen.
      const rewrite = replayed > 0 || sealed !== (saved?.archiveSealed ?? 0) || state.regrouped !== undefined || erasing.length > 0;
      if (state.regrouped) {
        const { groupsBefore, groupsAfter, records } = state.regrouped;
        console.error(`csp-lens: ${path}: regrouped by the current rule: ${groupsBefore} groups → ${groupsAfter}, ${records} live records moved or reclassified (archived records keep the group id they had)`);
      }
      return { state, archive, batches, rewrite, erasing };
    }

    let { state, archive, batches, rewrite, erasing } = await load();
    if (options.journal !== false) journal = await openJournal(paths.journal);
    const timing = typeof options.journal === 'object' ? options.journal : {};
    const live = checkpoints({
      db, journal, batches,
      state: () => state,
      archive: () => archive,
      checkpointMs: timing.checkpointMs ?? 30_000,
      checkpointBytes: timing.checkpointBytes ?? 32 * 1024 * 1024,
      clock: options.clock ?? realClock,
      erasing: () => eraser.pending,
    });
    let archiveFailing = false;
    let closed = false;
    let broken: Error | undefined;

    /** Memory back to what the files hold: a whole-file rewrite failed after memory took its commit. */
    async function undo(): Promise<void> {
      try {
        ({ state, archive, batches, rewrite, erasing } = await load());
        live.rebase(batches);
        eraser.reset(erasing);
        if (erasing.length) await eraser.finish();
        else if (rewrite) await live.write();
      } catch (e) {
        // Memory may now hold what was never acknowledged: take nothing more until a restart.
        broken = new Error(`csp-lens: ${path}: a failed write could not be taken back (${(e as Error).message}); restart the receiver`);
        console.error(`csp-lens: could not take back a failed commit: ${(e as Error).message}`);
      }
    }

    /** With the journal: evictions go to the archive alongside a commit once enough are queued to matter for memory. */
    async function archiveAlongside(): Promise<void> {
      // The journal alone makes a commit durable (a replay evicts again what the archive lacks), so
      // evictions otherwise wait for the checkpoint; a failed archive append only keeps them queued.
      if (archive.queued < ARCHIVE_EVERY) return;
      await archive.flush().then(
        () => void (archiveFailing = false),
        (e: Error) => {
          if (!archiveFailing) console.error(`csp-lens: archive append failed (retrying): ${e.message}`);
          archiveFailing = true;
        },
      );
    }

    const eraser = createEraser({ base, state: () => state, archive: () => archive, journal, live, undo });
    eraser.reset(erasing);

    /** The durable step with the journal: the commit's lines appended and fdatasync'd. */
    async function persist(items: Append[]): Promise<void> {
      const first = live.reserve(items.length);
      items.forEach((item, i) => journal!.entry(first + i, item.body!));
      await journal!.append();
    }

    /** Memory takes a commit (with the journal, a durable one), in slices that give the event loop turns. */
    async function apply(items: Append[]): Promise<Outcome<Result>[]> {
      const outcomes: Outcome<Result>[] = [];
      const breathe = slicer(SLICE_MS);
      for (const item of items) {
        try {
          if ('triage' in item) outcomes.push({ ok: true, value: state.setTriage(item.triage.id, item.triage.change) });
          else {
            const { evicted, stored } = state.ingest(item.batch, item.filtered);
            archive.push(evicted);
            outcomes.push({ ok: true, value: stored });
          }
        } catch (error) {
          outcomes.push({ ok: false, error });
        }
        if (!journal) live.reserve(1);
        live.changed();
        // Readers and later appends wait for the whole commit; the event loop does not.
        await breathe();
      }
      if (journal) await archiveAlongside();
      return outcomes;
    }

    const commits = groupCommit<Item, Result>({
      // An erasure alone, appends up to the next one.
      take(waiting) {
        if ('erase' in waiting[0]) return 1;
        const next = waiting.findIndex((w) => 'erase' in w);
        return next < 0 ? waiting.length : next;
      },
      // With the journal, a batch is durable before memory sees it, and acknowledged then: the
      // merge runs after the responses are out (a crash before it replays the journal to the same
      // records; reads wait for it). Without the journal, the live file is rewritten after, and a
      // failed rewrite takes memory back to the files.
      async write(all, durable) {
        if (broken) throw broken;
        // Nothing commits past an unfinished erasure: its archive rewrite must catch no newer line.
        await eraser.finish();
        const first = all[0];
        if ('erase' in first) return [{ ok: true, value: await eraser.run(first.erase, first.by) }];
        const items = all as Append[];
        if (journal) {
          await persist(items);
          durable();
          await turn();
          return apply(items);
        }
        const outcomes = await apply(items);
        try {
          await live.write();
        } catch (e) {
          await undo();
          throw e;
        }
        return outcomes;
      },
      // With the journal (and no erasure left to finish), a commit's merge overlaps the next one's
      // journal append: the fsync's wait is no longer idle time.
      staged: journal && {
        takes: (items) => !('erase' in items[0]) && !eraser.pending.length && !broken,
        persist: (items) => persist(items as Append[]),
        apply: (items) => apply(items as Append[]),
      },
      due: () => live.due(),
      // An unfinished erasure first; the checkpoint runs either way (it names the erasure, and
      // backs off when it fails itself): nothing committed since, so nothing newer is archived.
      housekeep: () =>
        eraser
          .finish()
          .catch((e: Error) => console.error(`csp-lens: finishing an erasure of ${path} failed (retrying): ${e.message}`))
          .then(() => live.run(path)),
      idle: () => (closed ? live.stop() : live.idle(() => void commits.kick())),
    });

    // A journal store has a parseable live file from its first moment on.
    if (erasing.length) {
      console.error(`csp-lens: finishing ${erasing.length} erasure(s) of ${path} that the last stop interrupted`);
      await eraser.finish();
    } else if (rewrite || (journal && !(await sizeOf(path)))) await live.write();
    if (!journal) await unlink(paths.journal).catch(() => {});

    const read = <R>(fn: (s: State) => R) => commits.read(() => fn(state));
    return {
      append(batch: IngestBatch, filtered?: Record<string, number>, options?: AppendOptions) {
        if (closed) return Promise.reject(new Error('csp-lens: the store is closed'));
        if (broken) return Promise.reject(broken);
        applySeverity(batch, tuning.severity);
        return commits.add({ batch, filtered, body: journal ? entryBody(batch, filtered) : undefined }, options?.onDurable) as Promise<StoredViolation[]>;
      },
      // A journal line like an append's, so a state change survives a crash and a restart the same way.
      setGroupState(id, change) {
        if (closed) return Promise.reject(new Error('csp-lens: the store is closed'));
        if (broken) return Promise.reject(broken);
        const triage = { id, change };
        return commits.add({ triage, body: journal ? triageEntryBody(triage) : undefined }) as Promise<ViolationGroup | undefined>;
      },
      erase(filter, audit) {
        if (closed) return Promise.reject(new Error('csp-lens: the store is closed'));
        if (broken) return Promise.reject(broken);
        let checked: EraseFilter;
        try {
          checked = checkEraseFilter(filter);
        } catch (e) {
          return Promise.reject(e);
        }
        return commits.add({ erase: checked, by: audit?.by }) as Promise<EraseResult>;
      },
      breakdown: (id) =>
        read((s) => {
          if (!Object.hasOwn(s.data.groups, id)) return undefined;
          const rows: BreakdownRow[] = [];
          for (const r of s.records.values()) if (r.groupId === id) rows.push(recordRow(r));
          return breakdown(rows);
        }),
      severityRules: tuning.severity,
      // Acknowledged data only (commit.ts).
      violations: (q) => read((s) => queryViolations(s.records.values(), q)),
      groups: (q) => read((s) => queryGroups(s.data.groups, q, groupsOn(s.records.values(), q))),
      group: (id) =>
        read((s) => {
          const group = Object.hasOwn(s.data.groups, id) ? s.data.groups[id] : undefined;
          if (!group) return undefined;
          const { items } = queryViolations(s.records.values(), { groupId: id, limit: 50 });
          const example = s.records.get(group.exampleId) ?? items[0];
          const policy = example?.policyHash ? s.policies.text(example.policyHash) : undefined;
          return { group, records: items, ...(policy ? { policy } : {}) };
        }),
      policy: (hash) => read((s) => s.policies.text(hash)),
      stats: (q) =>
        read((s) => ({
          ...computeStats(s.records.values(), Object.keys(s.data.groups).length, s.data.counters, q),
          limits: s.limits(),
        })),
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
