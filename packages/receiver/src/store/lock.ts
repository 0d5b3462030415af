import { open, readFile, unlink } from 'node:fs/promises';

const held = new Set<string>();

/**
 * One process per store file: two writers would each rewrite the whole file from their own memory
 * and silently drop the other's records. The lock is `<file>.lock` holding the owner's pid; a lock
 * left by a dead process (kill -9) is taken over.
 */
export async function acquireLock(file: string): Promise<() => Promise<void>> {
  const lock = `${file}.lock`;
  if (held.has(file)) throw new Error(`csp-lens: ${file} is already open in this process`);
  for (let attempt = 0; ; attempt++) {
    try {
      const fh = await open(lock, 'wx');
      await fh.writeFile(String(process.pid));
      await fh.close();
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) throw lockError(file, lock, e);
      const pid = parseInt(await readFile(lock, 'utf8').catch(() => ''), 10);
      if (pid && pid !== process.pid && alive(pid)) {
        throw new Error(`csp-lens: ${file} is in use by process ${pid}; one receiver per store file (lock: ${lock})`);
      }
      await unlink(lock).catch(() => {});
    }
  }
  held.add(file);
  return async () => {
    if (!held.delete(file)) return;
    await unlink(lock).catch(() => {});
  };
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
