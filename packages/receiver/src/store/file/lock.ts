import { createHash, randomBytes } from 'node:crypto';
import { link, lstat, open, readFile, readlink, realpath, rename, unlink, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';

const held = new Set<string>();

/** A refusal because another live process holds the store; `pid` is that process. */
export class LockedError extends Error {
  readonly code = 'CSP_LENS_LOCKED';
  constructor(readonly file: string, readonly lock: string, readonly pid: number) {
    super(`csp-lens: ${file} is in use by process ${pid}; one receiver per store file (lock: ${lock})`);
  }
}

/**
 * One process per store file: two writers would each rewrite the whole file from their own memory
 * and silently drop the other's records. The lock is `<real path>.lock` holding the owner's pid (the
 * real path, so a symlink to the file or its folder meets the same lock). A lock left by a dead
 * process (kill -9) is taken over. Every step is atomic, because receivers restarted together race:
 * a lock appears whole (written aside, then hard-linked into place), and only the one process that
 * creates the takeover marker named for the stale lock's exact content may replace it.
 */
export async function acquireLock(file: string): Promise<() => Promise<void>> {
  const real = await realPath(file).catch((e) => {
    throw lockError(file, `${file}.lock`, e);
  });
  const lock = `${real}.lock`;
  if (held.has(real)) throw new Error(`csp-lens: ${file} is already open in this process`);
  held.add(real);
  const mine = String(process.pid);
  try {
    const owner = await claim(lock, lock, mine, 0);
    if (owner !== undefined) throw new LockedError(file, lock, owner);
  } catch (e) {
    held.delete(real);
    throw e instanceof LockedError || (e as Error).message.startsWith('csp-lens:') ? e : lockError(file, lock, e);
  }
  return async () => {
    if (!held.delete(real)) return;
    // Only our own lock: after a takeover (we were thought dead) the file is someone else's.
    if ((await read(lock)) === mine) await unlink(lock).catch(() => {});
  };
}

/** Creates `path` holding `mine`; returns undefined once it is ours, else the live owner's pid. */
async function claim(lock: string, path: string, mine: string, depth: number): Promise<number | undefined> {
  for (let attempt = 0; attempt < 100; attempt++) {
    if (await create(path, mine)) return undefined;
    const theirs = await read(path);
    if (theirs === undefined) continue; // released in between
    if (!/^\d+$/.test(theirs) && attempt < 20) {
      // Written in place (no hard links here, see create): let the writer finish.
      await new Promise((r) => setTimeout(r, 25));
      continue;
    }
    const owner = parseInt(theirs, 10);
    if (owner && owner !== process.pid && alive(owner)) return owner;
    // Stale. A crashed takeover leaves its marker stale too: taking that over is the same step.
    if (depth >= 8) throw new Error(`csp-lens: too many stale takeover markers beside ${lock}; remove ${lock}.*.takeover`);
    const marker = `${lock}.${depth}-${createHash('sha256').update(theirs).digest('hex').slice(0, 16)}.takeover`;
    const taker = await claim(lock, marker, mine, depth + 1);
    if (taker !== undefined) return taker; // a live process is taking it over: it is the owner now
    try {
      if ((await read(path)) === theirs) {
        await replace(path, mine);
        // Re-read: only a process that thought us dead could have replaced it since.
        if ((await read(path)) === mine) return undefined;
      }
    } finally {
      await unlink(marker).catch(() => {});
    }
  }
  throw new Error(`csp-lens: could not take ${path}: it kept changing`);
}

/** Creates `path` with `content` unless it exists; it never exists half-written. */
async function create(path: string, content: string): Promise<boolean> {
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(tmp, content, { flag: 'wx' });
  try {
    await link(tmp, path);
    return true;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return false;
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP') throw e;
    // A file system without hard links: exclusive create, written in place (claim waits for it).
    const fh = await open(path, 'wx').catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'EEXIST') return undefined;
      throw err;
    });
    if (!fh) return false;
    await fh.writeFile(content);
    await fh.close();
    return true;
  } finally {
    await unlink(tmp).catch(() => {});
  }
}

async function replace(path: string, content: string): Promise<void> {
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(tmp, content, { flag: 'wx' });
  await rename(tmp, path);
}

function read(path: string): Promise<string | undefined> {
  return readFile(path, 'utf8').catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return undefined;
    throw e;
  });
}

/** The file's real path; for a file not created yet, its real folder's (or its dangling link's target). */
export async function realPath(file: string, depth = 0): Promise<string> {
  try {
    return await realpath(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  const stat = await lstat(file).catch(() => undefined);
  if (stat?.isSymbolicLink() && depth < 40) return realPath(resolve(dirname(file), await readlink(file)), depth + 1);
  return join(await realpath(dirname(file)), basename(file));
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function lockError(file: string, lock: string, e: unknown): Error {
  return new Error(`csp-lens: cannot lock ${file} (${lock}): ${(e as Error).message}`);
}
