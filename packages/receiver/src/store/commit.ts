/** One item's outcome in a commit: what it stored, or why it failed (the others may still succeed). */
export type Outcome<R> = { ok: true; value: R } | { ok: false; error: unknown };

/**
 * A commit made durable before memory sees it (the file store's journal): its apply runs while the
 * next commit is being made durable. Applies run one at a time, in commit order.
 */
export interface StagedSteps<T, R> {
  /** Whether these items (one commit) go this way; otherwise `write` takes them. */
  takes(items: T[]): boolean;
  /** Makes `items` durable; throws: none of them is (every item failed, memory never sees them). */
  persist(items: T[]): Promise<void>;
  /** Applies durable `items` in memory; returns each one's outcome, in order. */
  apply(items: T[]): Promise<Outcome<R>[]>;
}

export interface CommitSteps<T, R> {
  /**
   * Makes `items` durable; returns each one's outcome, in order. Throws: every item failed. It may
   * call `durable()` as soon as all of them are durable, before it is done applying them.
   */
  write(items: T[], durable: () => void): Promise<Outcome<R>[]>;
  /** Optional: commits made durable first and applied after, overlapping the next commit's durable step. */
  staged?: StagedSteps<T, R>;
  /** How many of the waiting items the next commit takes (default: all). */
  take?(waiting: T[]): number;
  /**
   * How many `write` commits may be in flight at once (default 1). With more, the commits are
   * independent of each other (PostgreSQL: transactions, as another instance's would be), finish
   * in any order, and there are no staged steps.
   */
  concurrency?: number;
  /**
   * After a commit that threw, what waits behind it fails at once instead of trying again (a
   * database that is down or hung would only keep it waiting for the same answer).
   */
  failWaiting?: boolean;
  /** Housekeeping between commits (a checkpoint) when due. It must change nothing a read sees. */
  due?(): boolean;
  housekeep?(): Promise<void>;
  /** The loop ran dry. */
  idle?(): void;
}

interface Waiting<T, R> {
  item: T;
  durable?: () => void;
  resolve(value: R): void;
  reject(e: unknown): void;
}

/** A turn of the event loop: what waits on promises resolved before it (responses) goes first. */
export const turn = () => new Promise<void>((r) => setImmediate(r));

/**
 * Group commit (DESIGN §5), shared by the stores: at most one durable step in flight; everything
 * added meanwhile rides the next. Reads run on acknowledged data only, and on all of it: a read
 * waits for every commit acknowledged before it was asked (and for a `write` in flight, which may
 * have put unacknowledged items in memory), never for one whose durable step is still under way.
 *
 * A staged commit (`steps.staged`) is acknowledged once durable; its apply then runs while the next
 * commit is being made durable (the fsync's wait overlaps the merge's CPU), at most one apply behind.
 * A `write` (an erasure, a whole-file commit, PostgreSQL) and housekeeping wait for every apply.
 */
export function groupCommit<T, R>(steps: CommitSteps<T, R>) {
  const concurrency = steps.concurrency ?? 1;
  if (!Number.isSafeInteger(concurrency) || concurrency < 1 || (concurrency > 1 && steps.staged)) {
    throw new Error(`csp-lens: a group commit's concurrency must be an integer ≥ 1, and 1 with staged steps (got ${concurrency})`);
  }
  let queue: Waiting<T, R>[] = [];
  let running: Promise<void> | undefined;
  // Commits are numbered when acknowledged (staged) or when their write starts; `done` is the
  // newest one such that memory holds it and every one before it in full, and it only grows.
  let numbered = 0;
  let acknowledged = 0;
  let done = 0;
  // The writes in flight, by number; `freed` wakes a loop waiting for one of them to end.
  const writing = new Set<number>();
  let freed: (() => void) | undefined;
  // Reads, applies and the loop waiting for memory to hold commit `after`.
  const waiters: { after: number; run: () => void }[] = [];
  // Wakes a loop that ran dry while applies were still running.
  let arrived: (() => void) | undefined;
  /** Resolves once memory holds commit `n` and all before it (staged applies finish in order: `acknowledged - done` of them are pending). */
  const until = (n: number) => (n <= done ? Promise.resolve() : new Promise<void>((run) => waiters.push({ after: n, run })));

  const settle = (items: Waiting<T, R>[], outcomes: Outcome<R>[]) =>
    items.forEach((w, i) => {
      const o = outcomes[i]!;
      if (o.ok) w.resolve(o.value);
      else w.reject(o.error);
    });

  /**
   * Commit `n` is in memory: what waits for it goes on, and the promise chains of its reads (where
   * the read API serializes live records and groups) run before anything applies more.
   */
  async function finished(n: number): Promise<void> {
    done = n;
    if (!waiters.some((r) => r.after <= done)) return;
    const ready = waiters.filter((r) => r.after <= done);
    waiters.splice(0, waiters.length, ...waiters.filter((r) => r.after > done));
    for (const r of ready) r.run();
    await turn();
  }

  /** A commit threw: its items fail, and with `failWaiting` what waits behind it. */
  const failed = (items: Waiting<T, R>[], e: unknown) => {
    for (const w of items) w.reject(e);
    if (!steps.failWaiting) return;
    const ahead = new Error('csp-lens: the store failed the commit ahead of this one');
    for (const w of queue.splice(0)) w.reject(ahead);
  };

  async function commit(items: Waiting<T, R>[]): Promise<void> {
    const n = ++numbered;
    writing.add(n);
    try {
      const durable = () => {
        for (const w of items) w.durable?.();
      };
      settle(items, await steps.write(items.map((w) => w.item), durable));
    } catch (e) {
      failed(items, e);
    } finally {
      writing.delete(n);
      // Every commit before the oldest still in flight is done (they finish in any order). Its
      // reads run before the slot is free: with one write at a time, before the next one starts.
      const oldest = Math.min(...writing, numbered + 1);
      if (oldest - 1 > done) await finished(oldest - 1);
      freed?.();
    }
  }

  async function stage(staged: StagedSteps<T, R>, items: Waiting<T, R>[]): Promise<void> {
    const batch = items.map((w) => w.item);
    try {
      await staged.persist(batch);
    } catch (e) {
      failed(items, e);
      return;
    }
    const n = (acknowledged = ++numbered);
    for (const w of items) w.durable?.();
    void (async () => {
      // After the apply before it; the acknowledgements go out first.
      await until(n - 1);
      await turn();
      let outcomes: Outcome<R>[];
      try {
        outcomes = await staged.apply(batch);
      } catch (error) {
        // Durable but not applied: a bug (a restart replays it); the acknowledgement stands.
        outcomes = items.map(() => ({ ok: false, error }));
      }
      settle(items, outcomes);
      await finished(n);
    })();
  }

  async function drain(): Promise<void> {
    // Yields first: whoever started the loop stores `running` before the loop can end and clear it.
    await null;
    for (;;) {
      while (queue.length || steps.due?.()) {
        if (queue.length) {
          // At most one staged apply waits behind the one running: memory stays close behind the
          // durable copy, and what arrives meanwhile rides this commit. Likewise a write waits for
          // a free slot, and what arrives meanwhile rides it.
          await until(acknowledged - 1);
          while (writing.size >= concurrency) await new Promise<void>((r) => (freed = r));
          freed = undefined;
          // A failed commit may have failed the queue meanwhile.
          if (!queue.length) continue;
          const n = Math.max(1, Math.min(queue.length, steps.take?.(queue.map((w) => w.item)) ?? queue.length));
          const items = queue.slice(0, n);
          queue = queue.slice(n);
          if (steps.staged?.takes(items.map((w) => w.item))) await stage(steps.staged, items);
          else {
            await until(acknowledged);
            // Not awaited: the slot wait above is what holds the next commit back.
            void commit(items);
          }
        }
        if (steps.due?.()) {
          await until(numbered);
          await steps.housekeep!();
        }
      }
      if (done >= numbered) break;
      // Dry while applies or writes run: what arrives meanwhile is made durable alongside them, in this loop.
      await Promise.race([until(numbered), new Promise<void>((r) => (arrived = r))]);
      arrived = undefined;
    }
    running = undefined;
    steps.idle?.();
  }

  return {
    /**
     * Resolves, with what the commit stored of it, once the commit holding `item` is done (applied);
     * `durable` is called first, as soon as the commit says its items are durable.
     */
    add(item: T, durable?: () => void): Promise<R> {
      return new Promise<R>((resolve, reject) => {
        queue.push({ item, durable, resolve, reject });
        arrived?.();
        running ??= drain();
      });
    },
    /** `fn` over acknowledged data only: now, or once memory holds everything acknowledged so far. */
    read<V>(fn: () => V): Promise<V> {
      // Staged commits are numbered once acknowledged, writes when they start (a write may have
      // put unacknowledged items in memory): every numbered commit, and none still being persisted.
      return until(numbered).then(fn);
    },
    /** Runs the loop (pending commits, due housekeeping) and resolves when it is dry. */
    kick(): Promise<void> {
      return (running ??= drain());
    },
    /** Whether a commit is in flight (its items are being made durable or applied). */
    get busy(): boolean {
      return done < numbered;
    },
  };
}

/** Gives the event loop a turn when this much (ms) of synchronous work has gone by since the last. */
export function slicer(ms: number) {
  let since = performance.now();
  return async (): Promise<void> => {
    if (performance.now() - since < ms) return;
    await turn();
    since = performance.now();
  };
}
