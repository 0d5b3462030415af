import type { PageContext, ViolationRecord } from '@csp-lens/schema';
import type { StoreData } from '../../core/state.js';
import type { Checkpoint } from './journal.js';
import { pageKey } from '../../core/tables.js';

export type FileData = StoreData & { checkpoint?: Checkpoint };

/**
 * The live file as a sequence of strings, one entry of a table or one record per line: the writer
 * never builds the whole file as one string (V8 refuses strings past ~512 MiB, and one huge
 * `JSON.stringify` stalls the event loop), and the result is still one JSON document (lowdb's
 * format). A record's page context is written as the key of its entry in `pages`.
 */
export function* liveFileChunks(data: FileData): Generator<string> {
  const { records, policies, pages, groups, reach, ...head } = data;
  yield JSON.stringify(head).slice(0, -1);
  yield* table('policies', policies);
  yield* table('pages', pages ?? {});
  yield* table('groups', groups);
  yield* table('reach', reach);
  yield ',\n"records":[';
  let first = true;
  for (const r of records) {
    yield `${first ? '\n' : ',\n'}${recordJson(r)}`;
    first = false;
  }
  yield '\n]}\n';
}

function* table(name: string, entries: Record<string, unknown>): Generator<string> {
  yield `,\n${JSON.stringify(name)}:{`;
  let first = true;
  for (const [key, value] of Object.entries(entries)) {
    yield `${first ? '\n' : ',\n'}${JSON.stringify(key)}:${JSON.stringify(value)}`;
    first = false;
  }
  yield '\n}';
}

function recordJson(r: ViolationRecord): string {
  const page = r.page;
  if (!page) return JSON.stringify(r);
  // The key for the stringify only, then the shared object back (no await in between).
  (r as { page?: PageContext | string }).page = pageKey(page).key;
  try {
    return JSON.stringify(r);
  } finally {
    r.page = page;
  }
}
