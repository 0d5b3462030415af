import { readFileSync } from 'node:fs';
import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import { createSecureContext } from 'node:tls';
import { basename, dirname, join, resolve } from 'node:path';
import { LockedError, realPath } from '../store/file/lock.js';

/** A mistake in how the receiver was started: one line naming the flag and the fix; the CLI exits 2. */
export class UsageError extends Error {
  readonly exitCode = 2;
}

/** `--tls-cert`/`--tls-key` as PEM text, checked to be a matching certificate and key before anything opens. */
export function readTls(cert: string | undefined, key: string | undefined): { cert: string; key: string } | undefined {
  if (!!cert !== !!key) throw new UsageError('csp-lens: --tls-cert and --tls-key go together: pass both (or neither, for http)');
  if (!cert || !key) return undefined;
  const pem = (flag: string, value: string) => {
    if (value.includes('-----BEGIN')) return value;
    try {
      return readFileSync(value, 'utf8');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new UsageError(`csp-lens: --${flag} ${value}: ${code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'not readable' : (e as Error).message}; pass a PEM file`);
    }
  };
  const tls = { cert: pem('tls-cert', cert), key: pem('tls-key', key) };
  try {
    createSecureContext(tls);
  } catch (e) {
    throw new UsageError(`csp-lens: --tls-cert and --tls-key must be a PEM certificate and its private key (${(e as Error).message})`);
  }
  return tls;
}

/** What one start put on disk, to take back when the start fails. */
export interface StartFiles {
  /** The store file's real path (a symlink resolved: the lock and the writes go to one file). */
  db: string;
  remove(): Promise<void>;
}

/**
 * Creates the `--db` folder when it is missing (as the demo does) and notes what is there already,
 * so that a failed start removes the folder it created, or only the store files new since.
 */
export async function prepareDb(db: string, stream?: string): Promise<StartFiles> {
  const path = resolve(db);
  if ((await stat(path).catch(() => undefined))?.isDirectory()) {
    throw new UsageError(`csp-lens: --db ${db} is a folder; pass a file path such as ${join(db, 'csp-lens.json')}`);
  }
  let created: string | undefined;
  try {
    created = await mkdir(dirname(path), { recursive: true });
  } catch (e) {
    throw new UsageError(`csp-lens: --db ${db}: cannot create its folder ${dirname(path)} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); pass a path in a writable folder`);
  }
  const real = await realPath(path);
  const dir = dirname(real);
  const before = new Set(await readdir(dir));
  // The store's files all start with its name less `.json` (file.ts: journal, archive, lock, tmp).
  const base = basename(real).replace(/\.json$/, '');
  const streamFile = stream && stream !== '-' ? resolve(stream) : undefined;
  const streamExisted = streamFile ? await stat(streamFile).then(() => true, () => false) : true;
  return {
    db: real,
    async remove() {
      if (streamFile && !streamExisted) await rm(streamFile, { force: true });
      if (created) return rm(created, { recursive: true, force: true });
      for (const name of await readdir(dir).catch(() => [])) {
        if (!before.has(name) && (name === base || name.startsWith(`${base}.`))) await rm(join(dir, name), { recursive: true, force: true });
      }
    },
  };
}

/** Opening the store failed: what the person who started it can do about it. */
export function storeError(e: unknown, db: string): Error {
  if (e instanceof LockedError) {
    return new UsageError(`csp-lens: --db ${db} is in use by process ${e.pid}; one receiver per store file: stop it, or pass another --db (lock: ${e.lock})`);
  }
  const message = (e as Error).message ?? String(e);
  if (/is not a csp-lens store/.test(message)) return new UsageError(`${message}; pass another --db`);
  return e as Error;
}

/** Listening failed: name the flag (--port, --host) and the fix, not the raw errno. */
export function listenError(e: NodeJS.ErrnoException, port: number, host: string): Error {
  switch (e.code) {
    case 'EADDRINUSE':
      return new UsageError(`csp-lens: --port ${port} is already in use on ${host}; stop what listens there, or pass another --port (0 picks a free one)`);
    case 'EACCES':
      return new UsageError(`csp-lens: --port ${port} needs privileges here (ports below 1024 do); pass --port 1024 or above, or put a proxy in front`);
    case 'EADDRNOTAVAIL':
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new UsageError(`csp-lens: --host ${host} is not an address of this machine; pass one it has (127.0.0.1, or 0.0.0.0 for every interface)`);
    default:
      return new Error(`csp-lens: cannot listen on ${host}:${port}: ${e.message}`);
  }
}
