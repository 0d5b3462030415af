import pg from 'pg';

/** A named statement: PostgreSQL parses and plans it once per connection, not at every commit. */
export const named = <R extends pg.QueryResultRow>(client: pg.PoolClient, name: string, text: string, values: unknown[]) =>
  client.query<R>({ name: `csp-lens-${name}`, text, values });

/**
 * A statement prepared with SQL's PREPARE, once per connection, so that `EXECUTE name(…)` can ride
 * in a simple query with others: one round trip, a plan made once. `ready` runs outside a
 * transaction: a PREPARE that fails inside one (even the "prepared already" it forgives) aborts it.
 */
export function sqlPrepared(name: string, types: string, sql: string) {
  const ready = new WeakSet<object>();
  return {
    name,
    async ready(client: pg.PoolClient | pg.Client): Promise<void> {
      if (ready.has(client)) return;
      try {
        await client.query(`PREPARE ${name}(${types}) AS ${sql}`);
      } catch (e) {
        // 42P05: prepared already (a PREPARE whose answer was lost); anything else is the caller's error.
        if (!(e instanceof pg.DatabaseError && e.code === '42P05')) throw e;
      }
      ready.add(client);
    },
  };
}

/**
 * `text` as a dollar-quoted SQL literal (`$j$…$j$`), with a tag the text does not contain: nothing
 * to escape, so neither this process nor the server's lexer looks at its characters one by one
 * (pg.escapeLiteral does, in JavaScript: a third of the receiver's CPU per commit with the write's
 * JSON, bench/pg-write.mjs). For the text of values in simple queries, which have no parameters.
 */
export function dollarQuoted(text: string): string {
  let tag = '$j$';
  for (let i = 0; text.includes(tag); i++) tag = `$j${i}$`;
  return `${tag}${text}${tag}`;
}

// The literals of EXECUTE's arguments (a simple query has no parameters), one way each.

/** A value as a JSON literal (dollar-quoted: see `dollarQuoted`). */
export const jsonLiteral = (x: unknown): string => dollarQuoted(JSON.stringify(x));

/** Strings as a text[] literal, each escaped. */
export const textArray = (xs: Iterable<string>): string => `ARRAY[${[...xs].map((x) => pg.escapeLiteral(x)).join(', ')}]::text[]`;
