export interface CommitSteps<T> {
  /**
   * Makes a commit's items durable before they are applied (a journal), or nothing. Throws: every
   * item of the commit fails, and none was applied.
   */
  log?(items: T[]): Promise<void>;
  /** Applies one item in memory. May throw: that item's append fails. */
  apply(item: T): void;
  /** After the items were applied: makes them durable, if `log` did not. */
  write(): Promise<void>;
  /** `write` failed after the items were applied: takes them back out of memory. */
  undo?(): Promise<void>;
  /** Whether housekeeping (a checkpoint) is due between writes. It must change nothing a read sees. */
  due(): boolean;
  housekeep(): Promise<void>;
  /** The loop ran dry. */
  idle(): void;
}

interface Queued<T> {
  item: T;
  failed?: { error: unknown };
}

interface Commit {
  promise: Promise<void>;
  resolve(): void;
  reject(e: unknown): void;
}

function newCommit(): Commit {
  let resolve!: () => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<void>((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
}

/** Applying a big commit gives the event loop a turn this often (ms): no request waits on one. */
const SLICE_MS = 8;
const turn = () => new Promise<void>((r) => setImmediate(r));

/**
 * Group commit (DESIGN §5): at most one write in flight; everything added meanwhile rides the next.
 * Outside a commit, memory holds exactly what was acknowledged: a read runs at once, or right after
 * the commit in flight, and never sees a record that a crash or a failed write could still take back.
 */
export function groupCommit<T>(steps: CommitSteps<T>) {
  let queue: Queued<T>[] = [];
  let next: Commit | undefined;
  let writing = false;
  const readers: (() => void)[] = [];
  let running: Promise<void> | undefined;

  async function commit(items: Queued<T>[]): Promise<unknown> {
    try {
      await steps.log?.(items.map((q) => q.item));
    } catch (e) {
      return e;
    }
    let slice = performance.now();
    for (const q of items) {
      try {
        steps.apply(q.item);
      } catch (error) {
        q.failed = { error };
      }
      // Readers and later appends wait for the whole commit; the event loop does not.
      if (performance.now() - slice > SLICE_MS) {
        await turn();
        slice = performance.now();
      }
    }
    try {
      await steps.write();
    } catch (e) {
      await steps.undo?.().catch((u: Error) => console.error(`csp-lens: could not take back a failed commit: ${u.message}`));
      return e;
    }
    return undefined;
  }

  async function drain(): Promise<void> {
    // Yields first: whoever started the loop stores `running` before the loop can end and clear it.
    await null;
    while (next || steps.due()) {
      const current = next;
      if (current) {
        next = undefined;
        const items = queue;
        queue = [];
        writing = true;
        const error = await commit(items);
        if (error === undefined) current.resolve();
        else current.reject(error);
        writing = false;
        if (readers.length) {
          for (const read of readers.splice(0)) read();
          // Results hold live objects (records, groups): the readers' promise chains, where the read
          // API serializes them, run before the next commit applies more.
          await turn();
        }
      }
      if (steps.due()) await steps.housekeep();
    }
    running = undefined;
    steps.idle();
  }

  return {
    /** Resolves once the write holding `item` is durable. */
    add(item: T): Promise<void> {
      const q: Queued<T> = { item };
      queue.push(q);
      const commit = (next ??= newCommit());
      running ??= drain();
      return commit.promise.then(() => {
        if (q.failed) throw q.failed.error;
      });
    },
    /** `fn` over acknowledged data only: now, or as soon as the write in flight is done. */
    read<R>(fn: () => R): Promise<R> {
      return new Promise<R>((resolve, reject) => {
        const run = () => {
          try {
            resolve(fn());
          } catch (e) {
            reject(e);
          }
        };
        if (writing) readers.push(run);
        else run();
      });
    },
    /** Runs the loop (pending commit, due housekeeping) and resolves when it is dry. */
    kick(): Promise<void> {
      return (running ??= drain());
    },
  };
}
