export interface CommitSteps<T> {
  /** Applies one item in memory, right before the write that makes it durable. May throw: that item's append fails. */
  apply(item: T): void;
  /** Makes everything applied so far durable. */
  write(): Promise<void>;
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

/**
 * Group commit (DESIGN §5): at most one write in flight; everything added meanwhile rides the next.
 * Items are applied in memory only when their write starts, so that outside a write the memory
 * holds exactly what was acknowledged: a read runs at once, or right after the write in flight,
 * and never sees a record that a crash could still take back.
 */
export function groupCommit<T>(steps: CommitSteps<T>) {
  let queue: Queued<T>[] = [];
  let next: Commit | undefined;
  let writing = false;
  const readers: (() => void)[] = [];
  let running: Promise<void> | undefined;

  async function drain(): Promise<void> {
    // Yields first: whoever started the loop stores `running` before the loop can end and clear it.
    await null;
    while (next || steps.due()) {
      const commit = next;
      if (commit) {
        next = undefined;
        const items = queue;
        queue = [];
        writing = true;
        for (const q of items) {
          try {
            steps.apply(q.item);
          } catch (error) {
            q.failed = { error };
          }
        }
        try {
          await steps.write();
          commit.resolve();
        } catch (e) {
          commit.reject(e);
        }
        writing = false;
        if (readers.length) {
          for (const read of readers.splice(0)) read();
          // Results hold live objects (records, groups): the readers' promise chains, where the read
          // API serializes them, run before the next commit applies more.
          await new Promise((r) => setImmediate(r));
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
