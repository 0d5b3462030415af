export interface PgCluster {
  /** Folder of initdb/pg_ctl in use. */
  bin: string;
  /** Temp folder holding the data directory, the log and the unix socket. */
  dir: string;
  port: number;
  /** `postgres://postgres@127.0.0.1:PORT/postgres` (trust auth, local only). */
  url: string;
  /** Stops the server and deletes its folder (resuming it first if paused). */
  stop(): Promise<void>;
  /** `pg_ctl stop -m immediate`: every connection dropped at once, as in a crash; the data stays. */
  crash(): Promise<void>;
  /** Starts the server again after crash(), on the same port and data. */
  start(): Promise<void>;
  /** SIGSTOP to the postmaster and every backend: a hung server (connections open, no answers). */
  pause(): Promise<void>;
  /** SIGCONT to what pause() stopped. stop() and process exit resume too. */
  resume(): void;
}

export function findPgBin(): string | undefined;
export function startCluster(options?: { durable?: boolean }): Promise<PgCluster>;
