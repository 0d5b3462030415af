import { createReadStream } from 'node:fs';
import { access, open, truncate, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { createInterface } from 'node:readline';
import type { PageContext, ViolationRecord } from '@csp-lens/schema';
import type { EraseFilter, IngestBatch } from '../../core/types.js';
import type { State } from '../../core/state.js';
import { type TriageChange, isTriageChange } from '../../core/triage.js';
import { endTornLine, sizeOf, syncDir } from './adapter.js';
import { policyHash } from '../../core/tables.js';
import { reclassify } from '../../core/classify.js';
import { segmentPath } from './archive.js';

const exists = (file: string): Promise<boolean> => access(file).then(() => true, () => false);

// DESIGN §5. The durable step of a group commit is one append + fdatasync of its batches to
// `<db>.journal.jsonl`, numbered; the live file is a checkpoint, rewritten from memory now and then,
// that says which entries it holds. Opening replays the entries past it.

/** Written into the live file by a checkpoint: what it already contains. */
export interface Checkpoint {
  /** Journal entries up to this number are in this file (or the archive). */
  batches: number;
  /** The open archive segment's size when this file was written; anything past it came from a later commit. */
  archiveBytes: number;
  /** The newest sealed archive segment then (absent: 0, none). */
  archiveSealed?: number;
  /**
   * Erasures this file already holds (records and group totals) whose archive lines may still be
   * on disk: opening rewrites the archive without them (store/file/erase.ts).
   */
  erasing?: EraseFilter[];
}

/**
 * One journal line: a batch as the store received it, numbered. Version 2 lines (`v: 2`) carry each
 * policy text once per journal file: the first line since the last checkpoint that refers to a policy
 * defines it in `d` (policy hash ⇒ text), and every violation's `originalPolicy` in a version 2
 * line is such a hash. Lines without `v` (version 1) carry the texts inline. A line with `p` lists
 * the page contexts of its violations once each (an SDK batch's events share one), and each
 * violation's `page` is `{"$": index}` into it.
 */
interface Entry {
  n: number;
  /** An erasure instead of a batch (`b` absent): see store/file/erase.ts. */
  e?: EraseFilter;
  v?: 2;
  d?: Record<string, string>;
  p?: PageContext[];
  b: IngestBatch;
  f?: Record<string, number>;
  /** Instead of `b`: a group's triage change (`POST /api/groups/<id>/state`). */
  s?: { id: string; change: TriageChange };
}

/** An entry serialized on arrival (merging may later attach the batch's objects to records), without its number. */
export interface EntryBody {
  body: string;
  /** Version 2: the policies it refers to, as [hash, text, hash, text, …], each once. */
  refs?: string[];
}

/**
 * The body of a batch's line. A policy runs to KBs and is the same on most reports, so a line
 * refers to it by hash and the text goes into the journal once (see `journalPolicies`); the page
 * context an SDK batch's events share goes into the line once.
 */
export function entryBody(batch: IngestBatch, filtered?: Record<string, number>): EntryBody {
  const f = filtered && Object.keys(filtered).length ? filtered : undefined;
  const vs = batch.violations;
  let refs: string[] | undefined;
  let inlinePolicies = false;
  // Each violation's policy text and hash, by index: hashed once, put back after the stringify.
  const texts: (string | undefined)[] = [];
  const hashes: (string | undefined)[] = [];
  for (let i = 0; i < vs.length && !inlinePolicies; i++) {
    const text = vs[i].originalPolicy;
    if (typeof text !== 'string') continue;
    const hash = policyHash(text);
    texts[i] = text;
    hashes[i] = hash;
    refs ??= [];
    const at = refs.indexOf(hash);
    if (at >= 0 && at % 2 === 0) {
      // Two texts with one hash: this batch's policies go out inline (version 1).
      if (refs[at + 1] !== text) inlinePolicies = true;
      continue;
    }
    // Past a few distinct policies in one batch (not a browser), inline: the lookups stay short.
    if (refs.length >= 2 * MAX_REFS) inlinePolicies = true;
    else refs.push(hash, text);
  }
  if (inlinePolicies) refs = undefined;
  let pages: PageContext[] | undefined;
  const index = new Map<PageContext, { $: number }>();
  const shared: (PageContext | undefined)[] = [];
  for (let i = 0; i < vs.length; i++) {
    const page = vs[i].page;
    if (!page) continue;
    let ref = index.get(page);
    if (!ref) index.set(page, (ref = { $: (pages ??= []).push(page) - 1 }));
    shared[i] = page;
  }
  // Swapped for their references just for the stringify, then put back.
  try {
    for (let i = 0; i < vs.length; i++) {
      if (refs && hashes[i] !== undefined) vs[i].originalPolicy = hashes[i];
      if (shared[i]) (vs[i] as { page?: unknown }).page = index.get(shared[i]!);
    }
    return refs ? { body: inline(batch, f, pages), refs } : { body: inline(batch, f, pages) };
  } finally {
    for (let i = 0; i < vs.length; i++) {
      if (texts[i] !== undefined) vs[i].originalPolicy = texts[i];
      if (shared[i]) vs[i].page = shared[i];
    }
  }
}

const MAX_REFS = 16;

/** The body of a triage change's line. */
export const triageEntryBody = (s: { id: string; change: TriageChange }): EntryBody => ({ body: JSON.stringify({ s }).slice(1) });

const inline = (batch: IngestBatch, f: Record<string, number> | undefined, p: PageContext[] | undefined): string =>
  JSON.stringify(p ? (f ? { p, b: batch, f } : { p, b: batch }) : f ? { b: batch, f } : { b: batch }).slice(1);

/** Which policy texts the journal file holds since its last reset: a line defines those it is first to use. */
export function journalPolicies() {
  let written = new Map<string, string>();
  // Definitions made by the lines queued since the last append, to take back if it fails.
  let undo: [string, string | undefined][] = [];
  return {
    /** The start of the numbered line, up to `body`; call in the order lines are appended. */
    head(n: number, { refs }: EntryBody): string {
      if (!refs) return `{"n":${n},`;
      let defs = '';
      for (let j = 0; j < refs.length; j += 2) {
        const had = written.get(refs[j]);
        if (had === refs[j + 1]) continue;
        // Another text under this hash since the reset: this line defines its own (a later
        // definition wins for the lines after it, on replay as here).
        undo.push([refs[j], had]);
        written.set(refs[j], refs[j + 1]);
        defs += `${defs ? ',' : ''}${JSON.stringify(refs[j])}:${JSON.stringify(refs[j + 1])}`;
      }
      return defs ? `{"n":${n},"v":2,"d":{${defs}},` : `{"n":${n},"v":2,`;
    },
    /** The journal was emptied (a checkpoint) or is new. */
    reset(): void {
      written = new Map();
      undo = [];
    },
    /** The queued lines are in the file: their definitions stand. */
    commit(): void {
      undo = [];
    },
    /** The queued lines were cut off the file again: so were their definitions. */
    rollback(): void {
      for (const [hash, had] of undo.reverse()) {
        if (had === undefined) written.delete(hash);
        else written.set(hash, had);
      }
      undo = [];
    },
  };
}

export interface Paths {
  db: string;
  /** `db` without `.json`: archive segments are `<base>.archive.<n>.jsonl`. */
  base: string;
  archive: string;
  journal: string;
}

/**
 * Brings the files a crash left back in line with the live file's checkpoint, then applies the
 * journal's entries past it to `state`. Returns the last entry number and what the replay evicted.
 */
export async function recover(paths: Paths, checkpoint: Checkpoint | undefined, state: State, erase: Replay) {
  // Archive lines appended after the checkpoint (a crash before the next one, or between a
  // checkpoint's archive append and its rename) hold records the replay below evicts again: cut
  // them, so each record is archived exactly once. If the open segment was sealed after the
  // checkpoint (at most one seal happens between two checkpoints), the checkpoint's `archiveBytes`
  // is that sealed file's, and the open one holds only later lines. Restoring an old live file
  // over newer archive files therefore cuts them too: restore a store's files together.
  if (checkpoint) {
    const next = segmentPath(paths.base, (checkpoint.archiveSealed ?? 0) + 1);
    if (await exists(next)) {
      if ((await sizeOf(next)) > checkpoint.archiveBytes) await truncate(next, checkpoint.archiveBytes);
      await unlink(paths.archive).catch(() => {});
    } else if ((await sizeOf(paths.archive)) > checkpoint.archiveBytes) await truncate(paths.archive, checkpoint.archiveBytes);
  }
  await endTornLine(paths.journal);
  let batches = checkpoint?.batches ?? 0;
  let replayed = 0;
  const evicted: ViolationRecord[] = [];
  const policies = new Map<string, string>();
  // Line by line from the file: the journal grows while checkpoints cannot be written (a full
  // disk), and one string of all of it could pass what V8 allows.
  for await (const line of journalLines(paths.journal)) {
    let entry: Entry;
    try {
      entry = JSON.parse(line) as Entry;
    } catch {
      continue; // torn by a crash mid-append: that commit never completed, nobody was acknowledged
    }
    // Definitions count wherever they are: a later line may refer to one in a line the checkpoint holds.
    if (entry?.d && typeof entry.d === 'object') {
      for (const h of Object.keys(entry.d)) if (typeof entry.d[h] === 'string') policies.set(h, entry.d[h]);
    }
    // Numbers only grow: a lower one is in the checkpoint already, or a retried append wrote it twice.
    if (!(entry?.n > batches) || !(entry.b || entry.e || entry.s)) continue;
    batches = entry.n;
    if (entry.e) {
      // What was evicted so far is archived before the erasure: it goes through it too.
      await erase(entry.e, evicted);
      replayed++;
      continue;
    }
    try {
      if (entry.s) {
        if (typeof entry.s.id !== 'string' || !isTriageChange(entry.s.change)) throw new Error('not a triage change');
        state.setTriage(entry.s.id, entry.s.change);
        replayed++;
        continue;
      }
      if (entry.v === 2) resolvePolicies(entry.b, policies);
      if (Array.isArray(entry.p)) resolvePages(entry.b, entry.p);
      // Written by whichever version ran before: classified again by today's rule, as the live
      // file's records were on open (regroup.ts), so both agree on their groups.
      for (const v of entry.b.violations) reclassify(v);
      for (const r of state.ingest(entry.b, entry.f, true).evicted) evicted.push(r);
      replayed++;
    } catch (e) {
      console.error(`csp-lens: skipped journal entry ${entry.n} of ${paths.journal}: ${(e as Error).message}`);
    }
  }
  return { batches, evicted, replayed };
}

/** Replays an erasure entry: on the state, and on `evicted` (records not in the archive files yet). */
export type Replay = (filter: EraseFilter, evicted: ViolationRecord[]) => Promise<void>;

/** A JSON-lines file line by line (the journal, archive segments); a missing file has none. */
export async function* journalLines(file: string): AsyncGenerator<string> {
  const input = createReadStream(file, { encoding: 'utf8' });
  const missing = new Promise<'missing'>((resolve, reject) =>
    input.once('error', (e: NodeJS.ErrnoException) => (e.code === 'ENOENT' ? resolve('missing') : reject(e))),
  );
  const opened = new Promise<'open'>((resolve) => input.once('ready', () => resolve('open')));
  if ((await Promise.race([missing, opened])) === 'missing') return;
  yield* createInterface({ input, crlfDelay: Infinity });
}

/** A line's page references (`{"$": i}`) back to the shared page contexts it lists. */
function resolvePages(batch: IngestBatch, pages: PageContext[]): void {
  for (const v of batch.violations) {
    const ref = (v?.page as { $?: unknown } | undefined)?.$;
    if (typeof ref !== 'number') continue;
    if (!pages[ref]) throw new Error(`undefined page ${ref}`);
    v.page = pages[ref];
  }
}

/** A version 2 entry's policy hashes back to their texts. */
function resolvePolicies(batch: IngestBatch, policies: Map<string, string>): void {
  for (const v of batch.violations) {
    if (typeof v?.originalPolicy !== 'string') continue;
    const text = policies.get(v.originalPolicy);
    if (text === undefined) throw new Error(`undefined policy ${v.originalPolicy}`);
    v.originalPolicy = text;
  }
}

/**
 * The open journal. An entry is written (and synced) before its batch is applied in memory, so
 * memory only ever holds what is durable: a failed append is cut back off the file, its entries are
 * dropped (their appends fail, nobody was acknowledged) and memory never saw them.
 */
export async function openJournal(path: string) {
  const fh = await open(path, 'a');
  await syncDir(dirname(path));
  // Each line as two strings, its head and its body (not joined: the bytes are encoded straight
  // into one buffer).
  let pending: string[] = [];
  // The file's length after the last append that completed: a failed one is cut back to it.
  let good = (await fh.stat()).size;
  let torn = false;
  let bytes = 0;
  let scratch = Buffer.allocUnsafe(0);
  const policies = journalPolicies();
  return {
    /** Queues an entry's line for the next append, after every line queued before it. */
    entry(n: number, body: EntryBody): void {
      pending.push(policies.head(n, body), body.body);
    },
    /** Written since the last checkpoint (roughly: UTF-16 units). */
    get bytes(): number {
      return bytes;
    },
    /** Writes and fdatasyncs every queued line; on failure none of them counts. */
    async append(): Promise<void> {
      const all = pending;
      pending = [];
      if (!all.length) return;
      let chars = 1;
      for (let i = 0; i < all.length; i++) chars += all[i].length;
      chars += all.length / 2; // the newlines
      // After a failed write that could not be cut back, the file may end in a fragment.
      const lead = torn ? 1 : 0;
      try {
        const bound = chars * 3; // UTF-8 bytes per UTF-16 unit, at most
        // One buffer reused across appends (one is in flight at a time); a huge one is not kept.
        const buf = bound <= scratch.length ? scratch : Buffer.allocUnsafe(Math.max(bound, 256 * 1024));
        if (buf.length <= 4 * 1024 * 1024) scratch = buf;
        let end = 0;
        if (lead) buf[end++] = 0x0a;
        for (let i = 0; i < all.length; i += 2) {
          end += buf.write(all[i], end);
          end += buf.write(all[i + 1], end);
          buf[end++] = 0x0a;
        }
        torn = true;
        for (let done = 0; done < end; ) {
          const { bytesWritten } = await fh.write(buf, done, end - done);
          if (!bytesWritten) throw new Error(`csp-lens: no progress writing ${path}`);
          done += bytesWritten;
        }
        await fh.datasync();
        good += end;
        torn = false;
        policies.commit();
      } catch (e) {
        // A full disk: what was written of these lines goes (so that a retry by the browser is not
        // stored twice, and the space comes back), and so do the policy texts they defined.
        policies.rollback();
        await fh.truncate(good).then(
          () => (torn = false),
          () => {},
        );
        throw e;
      }
      bytes += chars - 1 + lead;
    },
    /** After a checkpoint: every entry applied so far is in the live file. */
    async reset(): Promise<void> {
      pending = [];
      // First: redefining a policy is always safe, referring to one the file lost is not.
      policies.reset();
      await fh.truncate(0);
      await fh.sync();
      good = 0;
      bytes = 0;
      torn = false;
    },
    close: () => fh.close(),
  };
}

export type Journal = Awaited<ReturnType<typeof openJournal>>;
