/** One item's outcome in a commit: what it stored, or why it failed (the others may still succeed). */
export type Outcome<R> = { ok: true; value: R } | { ok: false; error: unknown };

export interface CommitSteps<T, R> {
  /**
   * Makes `items` durable; returns each one's outcome, in order. Throws: every item failed. It may
   * call `durable()` as soon as all of them are durable, before it is done applying them.
   */
  write(items: T[], durable: () => void): Promise<Outcome<R>[]>;
  /** How many of the waiting items the next commit takes (default: all). */
  take?(waiting: T[]): number;
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
 * Group commit (DESIGN §5), shared by the stores: at most one write in flight; everything added
 * meanwhile rides the next. Reads run on acknowledged data only: at once, or right after the write
 * in flight (the file store applies a commit in memory while it writes; PostgreSQL reads its tables).
 */
export function groupCommit<T, R>(steps: CommitSteps<T, R>) {
  let queue: Waiting<T, R>[] = [];
  let writing = false;
  const readers: (() => void)[] = [];
  let running: Promise<void> | undefined;

  async function commit(items: Waiting<T, R>[]): Promise<boolean> {
    try {
      const durable = () => {
        for (const w of items) w.durable?.();
      };
      const outcomes = await steps.write(items.map((w) => w.item), durable);
      items.forEach((w, i) => {
        const o = outcomes[i]!;
        if (o.ok) w.resolve(o.value);
        else w.reject(o.error);
      });
      return true;
    } catch (e) {
      for (const w of items) w.reject(e);
      return false;
    }
  }

  async function drain(): Promise<void> {
    // Yields first: whoever started the loop stores `running` before the loop can end and clear it.
    await null;
    while (queue.length || steps.due?.()) {
      if (queue.length) {
        const n = Math.max(1, Math.min(queue.length, steps.take?.(queue.map((w) => w.item)) ?? queue.length));
        const items = queue.slice(0, n);
        queue = queue.slice(n);
        writing = true;
        const ok = await commit(items);
        if (!ok && steps.failWaiting) {
          const e = new Error('csp-lens: the store failed the commit ahead of this one');
          for (const w of queue.splice(0)) w.reject(e);
        }
        writing = false;
        if (readers.length) {
          for (const read of readers.splice(0)) read();
          // Results hold live objects (records, groups): the readers' promise chains, where the read
          // API serializes them, run before the next commit applies more.
          await turn();
        }
      }
      if (steps.due?.()) await steps.housekeep!();
    }
    running = undefined;
    steps.idle?.();
  }

  return {
    /**
     * Resolves, with what the write stored of it, once the write holding `item` is done; `durable`
     * is called first if the write says its items are durable before it is done with them.
     */
    add(item: T, durable?: () => void): Promise<R> {
      return new Promise<R>((resolve, reject) => {
        queue.push({ item, durable, resolve, reject });
        running ??= drain();
      });
    },
    /** `fn` over acknowledged data only: now, or as soon as the write in flight is done. */
    read<V>(fn: () => V): Promise<V> {
      return new Promise<V>((resolve, reject) => {
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
    /** Runs the loop (pending commits, due housekeeping) and resolves when it is dry. */
    kick(): Promise<void> {
      return (running ??= drain());
    },
    /** Whether a write is in flight (its items are being applied or made durable). */
    get busy(): boolean {
      return writing;
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
