import { copyFileSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { NormalizedViolation, ViolationRecord } from '@csp-lens/schema';
import { afterEach, describe, expect, it } from 'vitest';
import { openFileStore, type FileStoreOptions } from '../../packages/receiver/src/store/file/index.js';
import type { IngestBatch, Store } from '../../packages/receiver/src/core/types.js';
import { tempDir } from '../helpers/server.js';
import { archiveLines, jsonLines } from '../helpers/files.js';
import { allRecords, readStore } from '../helpers/records.js';

// Erasure in the file store: live records, the archive's segments (open and sealed), the groups'
// totals, and what is on disk after a restart or a crash at any step.

const T0 = Date.UTC(2026, 0, 5, 10, 0, 0);

function violation(i: number, over: Partial<NormalizedViolation> = {}): NormalizedViolation {
  return {
    stream: 'reportUri',
    documentURL: `https://shop.example/p${i % 3}`,
    effectiveDirective: 'img-src',
    blockedURL: `https://cdn${i % 2}.example/x${i}.png`,
    disposition: 'enforce',
    occurredAt: T0 + i * 1000,
    receivedAt: T0 + i * 1000,
    count: 1,
    category: 'external',
    severity: 'medium',
    clientIp: `198.51.100.${i % 4}`,
    ...over,
  };
}

const batch = (vs: NormalizedViolation[]): IngestBatch => ({ violations: vs, otherReports: {}, invalid: 0 });

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function opened(options: Partial<FileStoreOptions> = {}) {
  const { dir, remove } = await tempDir();
  const path = join(dir, 'db.json');
  let store: Store | undefined;
  const open = async (o: Partial<FileStoreOptions> = {}) => (store = await openFileStore({ path, maxRecords: 5, ...options, ...o }));
  cleanups.push(async () => {
    await store?.close();
    await remove();
  });
  return { dir, path, open, get store() { return store!; } };
}

const all = (s: Store) => allRecords(readStore(s));
const archived = (db: string) => archiveLines<ViolationRecord>(db).items;

describe('erasure in the file store', () => {
  it('removes live and archived records by document, fixes the groups, and keeps it so after a restart', async () => {
    const t = await opened();
    let s = await t.open();
    for (let i = 0; i < 12; i++) await s.append(batch([violation(i)]));
    await s.close();
    s = await t.open();
    const before = { live: await all(s), archived: archived(t.path) };
    expect(before.live.length + before.archived.length).toBe(12);
    const doc = 'https://shop.example/p1';
    const want = { deleted: before.live.filter((r) => r.documentURL === doc).length, archived: before.archived.filter((r) => r.documentURL === doc).length };
    expect(want.deleted).toBeGreaterThan(0);
    expect(want.archived).toBeGreaterThan(0);

    expect(await s.erase({ document: doc }, { by: '127.0.0.1' })).toEqual(want);

    const check = async (store: Store) => {
      const live = await all(store);
      const arch = archived(t.path);
      expect(live.some((r) => r.documentURL === doc)).toBe(false);
      expect(arch.some((r) => r.documentURL === doc)).toBe(false);
      expect(live.length + arch.length).toBe(12 - want.deleted - want.archived);
      // Each group counts exactly the records left of it, live and archived.
      const { items: groups } = await store.groups({ limit: 500 });
      for (const g of groups) {
        const left = [...live, ...arch].filter((r) => r.groupId === g.id);
        expect(g.records).toBe(left.length);
        expect(g.count).toBe(left.reduce((n, r) => n + r.count, 0));
      }
      expect((await store.stats({})).archived).toBe(arch.length);
    };
    await check(s);
    await s.close();
    s = await t.open();
    await check(s);
    const audit = jsonLines<Record<string, unknown>>(join(t.dir, 'db.audit.jsonl')).items;
    expect(audit).toEqual([expect.objectContaining({ action: 'erase', filter: { document: doc }, ...want, by: '127.0.0.1' })]);
  });
});
