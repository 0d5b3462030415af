export interface PgCluster {
  /** Folder of initdb/pg_ctl in use. */
  bin: string;
  /** Temp folder holding the data directory, the log and the unix socket. */
  dir: string;
  port: number;
  /** `postgres://postgres@127.0.0.1:PORT/postgres` (trust auth, local only). */
  url: string;
  /** Stops the server and deletes its folder. */
  stop(): Promise<void>;
}

export function findPgBin(): string | undefined;
export function startCluster(options?: { durable?: boolean }): Promise<PgCluster>;
