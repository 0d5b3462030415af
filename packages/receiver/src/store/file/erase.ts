import { open, rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { ViolationRecord } from '@csp-lens/schema';
import { type EraseFilter, type EraseResult, type Tally, createTally, eraseMatcher, lineMayMatch } from '../../core/erase.js';
import type { State } from '../../core/state.js';
import { appendSynced, syncDir } from './adapter.js';
import { type Archive, archiveFiles, openSegmentPath } from './archive.js';
import { type EntryBody, type Journal, type Replay, journalLines } from './journal.js';
import type { Checkpoints } from './checkpoint.js';

// Erasure in the file store. An erasure is a commit of its own (store/commit.ts: never beside an
// append). Its journal entry makes it durable, and memory then drops the live records and what the
// archived ones counted in their groups. The archive's lines go in `finish`: a checkpoint that names
// the erasure (`erasing`), then each archive file with a match rewritten (a new file, fsync'd,
// renamed over the old one, the directory synced), then a checkpoint without it. A crash anywhere
// leaves either the journal entry (opening replays it) or a checkpoint naming the erasure (opening
// rewrites the archive again: rewriting is idempotent); totals are never taken out twice. While an
// erasure is unfinished nothing else commits, so no newer archive line can be caught by it.

type Line = (line: string) => boolean;

/** The record an archive line holds if a filter selects it; a torn line holds none. */
function lineMatcher(filters: EraseFilter[]): (line: string) => ViolationRecord | undefined {
  const tests = filters.map((f) => ({ may: lineMayMatch(f), match: eraseMatcher(f) }));
  return (line) => {
    const may = tests.filter((t) => t.may(line));
    if (!may.length) return undefined;
    let r: ViolationRecord;
    try {
      r = JSON.parse(line) as ViolationRecord;
    } catch {
      return undefined;
    }
    return r && typeof r === 'object' && may.some((t) => t.match(r)) ? r : undefined;
  };
}

/** The archived records `filter` selects, summed per group. */
async function scan(base: string, filter: EraseFilter, into: Tally): Promise<void> {
  const matches = lineMatcher([filter]);
  for (const file of await archiveFiles(base)) {
    for await (const line of journalLines(file)) {
      const r = matches(line);
      if (r) into.add(r);
    }
  }
}

/** Rewrites `file` without the lines `drop` selects, if it has any; returns its size after. */
async function rewrite(file: string, drop: Line): Promise<number | undefined> {
  let found = false;
  for await (const line of journalLines(file)) if ((found = drop(line))) break;
  if (!found) return undefined;
  const tmp = `${file}.erase.tmp`;
  const fh = await open(tmp, 'w');
  let size = 0;
  try {
    let parts: string[] = [];
    let chars = 0;
    const write = async () => {
      const buf = Buffer.from(parts.join(''), 'utf8');
      parts = [];
      chars = 0;
      await fh.write(buf);
      size += buf.length;
    };
    for await (const line of journalLines(file)) {
      if (drop(line)) continue;
      parts.push(line, '\n');
      chars += line.length + 1;
      if (chars >= 1 << 20) await write();
    }
    if (parts.length) await write();
    await fh.sync();
  } catch (e) {
    await fh.close();
    await unlink(tmp).catch(() => {});
    throw e;
  }
  await fh.close();
  await rename(tmp, file);
  await syncDir(dirname(file));
  return size;
}

/** The replay of a journaled erasure at open: what `run` did before its entry was checkpointed. */
export function replayErasure(base: string, state: State, pending: EraseFilter[]): Replay {
  return async (filter, evicted) => {
    const tally = createTally();
    await scan(base, filter, tally);
    const match = eraseMatcher(filter);
    for (let i = evicted.length - 1; i >= 0; i--) if (match(evicted[i])) tally.add(evicted.splice(i, 1)[0]);
    state.erase(filter, tally);
    pending.push(filter);
  };
}

export interface EraserDeps {
  base: string;
  state: () => State;
  archive: () => Archive;
  journal?: Journal;
  live: Checkpoints;
  /** Memory back to the files (a failed whole-file commit): without a journal, the live file is the durable step. */
  undo: () => Promise<void>;
}

export function createEraser(d: EraserDeps) {
  let pending: EraseFilter[] = [];
  const auditFile = `${d.base}.audit.jsonl`;

  /** The archive without the lines of the pending erasures, between two checkpoints (see above). */
  async function finish(): Promise<void> {
    if (!pending.length) return;
    const done = pending.length;
    await d.live.write();
    const matches = lineMatcher(pending);
    const drop = (line: string) => matches(line) !== undefined;
    const open = openSegmentPath(d.base);
    for (const file of await archiveFiles(d.base)) {
      const size = await rewrite(file, drop);
      if (size !== undefined && file === open) d.archive().resized(size);
    }
    // They stay pending until a checkpoint without them stands: until then every commit tries again first.
    const finished = pending.slice(0, done);
    pending = pending.slice(done);
    try {
      await d.live.write();
    } catch (e) {
      pending = [...finished, ...pending];
      throw e;
    }
  }

  return {
    get pending(): EraseFilter[] {
      return pending;
    },
    /** What the files hold after opening (a checkpoint's `erasing`, the journal's replayed erasures). */
    reset(list: EraseFilter[]): void {
      pending = [...list];
    },
    finish,
    /** One erasure, as a commit of its own. */
    async run(filter: EraseFilter, by?: string): Promise<EraseResult> {
      const match = eraseMatcher(filter);
      // Reading first: a failure here changes nothing anywhere.
      const tally = createTally();
      await scan(d.base, filter, tally);
      const inFiles = tally.records;
      const n = d.live.reserve(1);
      if (d.journal) {
        const body: EntryBody = { body: JSON.stringify({ e: filter }).slice(1) };
        d.journal.entry(n, body);
        await d.journal.append();
      }
      // Durable (or, without the journal, about to be written whole): memory follows.
      const queued = d.archive().forget(match);
      for (const r of queued) tally.add(r);
      const deleted = d.state().erase(filter, tally);
      pending.push(filter);
      d.live.changed();
      try {
        await finish();
      } catch (e) {
        // The journal holds the erasure: the next commit finishes it. Without the journal the live
        // file is the only durable copy, and memory goes back to it.
        if (!d.journal) await d.undo();
        throw e;
      }
      const result = { deleted, archived: inFiles + queued.length };
      const entry = { at: new Date().toISOString(), action: 'erase', filter, ...result, ...(by ? { by } : {}) };
      await appendSynced(auditFile, `${JSON.stringify(entry)}\n`).catch((e: Error) => console.error(`csp-lens: could not write the audit line to ${auditFile}: ${e.message}`));
      return result;
    },
  };
}
