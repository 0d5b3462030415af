import pg from 'pg';
import { startCluster } from '../../scripts/pg-cluster.mjs';

export interface TestPostgres {
  /** A new empty database on the server; its URL. */
  createDatabase(): Promise<string>;
  /** Runs SQL against a database (to look at what the store wrote). */
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(url: string, sql: string, params?: unknown[]): Promise<R[]>;
  /** Stops the throwaway cluster (or drops the databases made on CSP_LENS_TEST_DATABASE_URL). */
  stop(): Promise<void>;
}

let n = 0;

/**
 * A PostgreSQL server for one test file: a throwaway cluster (scripts/pg-cluster.mjs), or the
 * server at CSP_LENS_TEST_DATABASE_URL when set (it must allow CREATE DATABASE).
 */
export async function startTestPostgres(): Promise<TestPostgres> {
  const external = process.env.CSP_LENS_TEST_DATABASE_URL;
  const cluster = external ? undefined : await startCluster();
  const base = external ?? cluster!.url;
  const made: string[] = [];
  const admin = async (sql: string) => {
    const c = new pg.Client({ connectionString: base });
    await c.connect();
    try {
      await c.query(sql);
    } finally {
      await c.end();
    }
  };
  return {
    async createDatabase() {
      const name = `csp_lens_test_${process.pid}_${++n}`;
      await admin(`CREATE DATABASE ${name}`);
      made.push(name);
      const u = new URL(base);
      u.pathname = `/${name}`;
      return u.toString();
    },
    async query<R extends pg.QueryResultRow>(url: string, sql: string, params: unknown[] = []) {
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      try {
        return (await c.query<R>(sql, params)).rows;
      } finally {
        await c.end();
      }
    },
    async stop() {
      if (cluster) return cluster.stop();
      for (const name of made) await admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    },
  };
}

/**
 * A connection to `url` that reads what the store's own connections read (bigint as numbers), for a
 * test that drives the store's steps by hand (prepare, write, COMMIT, fold) as another instance.
 * As the PoolClient those steps take; `end()` it.
 */
export async function connectAsStore(url: string): Promise<pg.PoolClient & pg.Client> {
  const types = { getTypeParser: (oid: number, format?: 'text' | 'binary') => (oid === 20 ? Number : pg.types.getTypeParser(oid, format)) } as pg.CustomTypesConfig;
  const client = new pg.Client({ connectionString: url, types });
  await client.connect();
  return client as pg.PoolClient & pg.Client;
}
