import { open, rename, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Adapter } from 'lowdb';

/**
 * lowdb's JSONFile renames a temp file into place (atomic) but never fsyncs, so an acknowledged
 * write could vanish with the machine. This adapter syncs the data before the rename and the
 * directory after it; it also writes compact JSON (the store is for machines, and 30% smaller), in
 * pieces (`serialize`) written as they come, never as one string of the whole file.
 */
export class SyncedJSONFile<T> implements Adapter<T> {
  constructor(
    private readonly file: string,
    private readonly serialize: (data: T) => Iterable<string> = (data) => [JSON.stringify(data)],
  ) {}

  async read(): Promise<T | null> {
    const fh = await open(this.file, 'r').catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') return undefined;
      throw e;
    });
    if (!fh) return null;
    try {
      return JSON.parse(await fh.readFile('utf8')) as T;
    } catch (e) {
      throw new Error(`csp-lens: ${this.file} is not a csp-lens store (${(e as Error).message})`);
    } finally {
      await fh.close();
    }
  }

  /** The caller keeps `data` unchanged until this resolves (the store's commits wait for it). */
  async write(data: T): Promise<void> {
    const tmp = `${this.file}.tmp`;
    const fh = await open(tmp, 'w');
    try {
      // About 1 MiB per write: the event loop runs between them, and memory stays flat.
      let parts: string[] = [];
      let size = 0;
      for (const part of this.serialize(data)) {
        parts.push(part);
        size += part.length;
        if (size < CHUNK) continue;
        await fh.write(parts.join(''));
        parts = [];
        size = 0;
      }
      if (parts.length) await fh.write(parts.join(''));
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, this.file);
    await syncDir(dirname(this.file));
  }
}

const CHUNK = 1 << 20;

/** A new or renamed file is durable only once its directory entry is. */
export async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * Appends JSON lines and syncs; returns the file's size after the append. A line torn by a crash or
 * by an earlier failed append is ended first, so new lines never glue onto a fragment. A failed
 * append (disk full) is cut back, so the caller's retry neither tears nor duplicates.
 */
export async function appendSynced(file: string, lines: string): Promise<number> {
  const fh = await open(file, 'a+');
  try {
    const { size } = await fh.stat();
    const last = size ? (await fh.read(Buffer.alloc(1), 0, 1, size - 1)).buffer[0] : 0x0a;
    try {
      await fh.appendFile(last === 0x0a ? lines : `\n${lines}`);
      await fh.sync();
    } catch (e) {
      await fh.truncate(size).catch(() => {});
      throw e;
    }
    return (await fh.stat()).size;
  } finally {
    await fh.close();
  }
}

/**
 * A kill -9 mid-append can leave a JSON-lines file's last line torn. End it, so the next append
 * starts a line of its own instead of gluing onto the fragment (which would make both unreadable).
 */
export async function endTornLine(file: string): Promise<void> {
  const fh = await open(file, 'r+').catch(() => undefined);
  if (!fh) return;
  try {
    const { size } = await fh.stat();
    const { buffer } = await fh.read(Buffer.alloc(1), 0, 1, Math.max(0, size - 1));
    if (size && buffer[0] !== 0x0a) {
      await fh.write('\n', size);
      await fh.sync();
    }
  } finally {
    await fh.close();
  }
}

export const sizeOf = (file: string): Promise<number> => stat(file).then((s) => s.size, () => 0);
