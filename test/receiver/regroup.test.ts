import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ViolationGroup, ViolationRecord } from '@csp-lens/schema';
import { openFileStore } from '../../packages/receiver/src/store/file/index.js';
import { normalizeNative } from '../../packages/receiver/src/core/normalize.js';
import { GROUPING_VERSION } from '../../packages/receiver/src/core/group.js';
import { tempDir } from '../helpers/server.js';
import { OLD_STATE, expectCarried } from '../helpers/regroup.js';

// test/fixtures/stores/grouping-1: a file store the receiver before issue 16 wrote (grouping rule 1)
// from real report bodies; make-grouping-1.mjs says which and how.
const FIXTURE = new URL('../fixtures/stores/grouping-1/', import.meta.url);
const FIREFOX = 'Mozilla/5.0 (X11; Linux x86_64; rv:153.0) Gecko/20100101 Firefox/153.0';

interface LiveFile {
  grouping?: number;
  groups: Record<string, ViolationGroup>;
  records: ViolationRecord[];
}
const liveFile = (path: string) => JSON.parse(readFileSync(path, 'utf8')) as LiveFile;
const sum = (gs: ViolationGroup[], k: 'count' | 'records') => gs.reduce((n, g) => n + g[k], 0);

async function withOldStore(test: (db: string) => Promise<void>) {
  const { dir, remove } = await tempDir('csp-lens-regroup-');
  try {
    cpSync(FIXTURE, dir, { recursive: true });
    await test(join(dir, 'db.json'));
  } finally {
    await remove();
  }
}

describe('a file store grouped by rule 1, opened', () => {
  it('puts every record in the group the current rule gives, with counts intact, and writes it at once', async () => {
    await withOldStore(async (db) => {
      const before = liveFile(db);
      const archive = readFileSync(db.replace(/\.json$/, '.archive.jsonl'), 'utf8');
      expect(before.grouping).toBeUndefined();
      expect(Object.keys(before.groups)).toHaveLength(46);

      const store = await openFileStore({ path: db, maxRecords: 30 });
      try {
        // Written before anything new arrives: a crash now cannot leave the old grouping behind.
        const after = liveFile(db);
        expect(after.grouping).toBe(GROUPING_VERSION);
        const groups = Object.values(after.groups);
        expect(sum(groups, 'count')).toBe(sum(Object.values(before.groups), 'count'));
        expect(sum(groups, 'records')).toBe(sum(Object.values(before.groups), 'records'));
        const summary = groups.map((g) => `${g.effectiveDirective} ${g.category} ${g.blocked} ${g.sourceFile ?? '-'} ${g.count} ${g.severity}`);
        expect(summary).toEqual([
          // Old Firefox's "self": one group "self" of 6 under rule 1 (3 of them archived). The live
          // record on /cart goes to /cart; the rest, with the example on /account, to /account.
          'script-src inline inline //shop.example/account 5 high',
          'script-src inline inline //shop.example/cart 1 high',
          // An empty blocked-uri under style-src: "other" under rule 1, no live record left.
          'style-src inline inline - 1 low',
          // Firefox 153's inline script on /product/1..40?ref=home: 40 groups under rule 1.
          'script-src-elem inline inline //shop.example/product/:id 40 high',
          // WebKit's eval on the http and https copies of one page: 2 groups under rule 1.
          'script-src eval eval //127.0.0.1/p 2 high',
          'img-src external https://127.0.0.1:8813 - 1 medium',
          'script-src-elem external https://127.0.0.1:8813 - 1 medium',
        ]);
        // Unchanged groups keep their ids.
        for (const g of groups.filter((x) => x.category === 'external')) expect(before.groups[g.id]).toBeDefined();
        // Every live record names an existing group, with the category the rule gives it.
        for (const r of after.records) {
          expect(after.groups[r.groupId], r.id).toBeDefined();
          expect(r.category).toBe(after.groups[r.groupId]!.category);
        }
        expect(after.records).toHaveLength(before.records.length);
        // The archive is not rewritten: its records keep the group ids they had.
        expect(readFileSync(db.replace(/\.json$/, '.archive.jsonl'), 'utf8')).toBe(archive);

        // New reports land in the regrouped groups.
        const product = structuredClone(JSON.parse(readFileSync(new URL('../fixtures/firefox-153/enforce/report-uri-inline-script.json', import.meta.url), 'utf8')));
        product['csp-report']['document-uri'] = product['csp-report']['source-file'] = 'https://shop.example/product/99?ref=mail';
        await store.append(normalizeNative(product, { receivedAt: Date.now(), userAgent: FIREFOX }));
        const page = await store.groups({ limit: 500 });
        expect(page.items).toHaveLength(7);
        expect(page.items.find((g) => g.sourceFile === '//shop.example/product/:id')).toMatchObject({ count: 41, records: 41, reach: { documents: 41 } });
      } finally {
        await store.close();
      }
    });
  });

  it('gives the groups it makes the triage state and first release of the old groups they are made of', async () => {
    await withOldStore(async (db) => {
      const file = liveFile(db);
      for (const [id, state] of Object.entries(OLD_STATE)) Object.assign(file.groups[id]!, state);
      writeFileSync(db, JSON.stringify(file));
      const store = await openFileStore({ path: db, maxRecords: 30 });
      try {
        // Ignored groups too (the list leaves them out by default).
        expectCarried((await store.groups({ limit: 500, status: 'all' })).items);
        // As the live file holds them.
        expectCarried(Object.values(liveFile(db).groups));
      } finally {
        await store.close();
      }
    });
  });

  it('classifies journal lines the old version wrote past the checkpoint by the current rule on replay', async () => {
    await withOldStore(async (db) => {
      // What rule 1 journaled for old Firefox's inline script: category self, severity low.
      const old = {
        stream: 'reportUri', documentURL: 'https://shop.example/cart?visit=9', blockedURL: 'self', effectiveDirective: 'script-src',
        violatedDirective: "script-src 'self'", disposition: 'unknown', sourceFile: 'https://shop.example/cart?visit=9', lineNumber: 30,
        occurredAt: 1_800_000_000_000, receivedAt: 1_800_000_000_000, count: 1, userAgent: 'Mozilla/5.0 (Windows NT 6.1; rv:38.0) Gecko/20100101 Firefox/38.0',
        category: 'self', severity: 'low',
      };
      writeFileSync(db.replace(/\.json$/, '.journal.jsonl'), `${JSON.stringify({ n: 52, b: { violations: [old], otherReports: {}, invalid: 0 } })}\n`);
      const store = await openFileStore({ path: db, maxRecords: 30 });
      try {
        const cart = (await store.groups({ limit: 500 })).items.filter((g) => g.sourceFile === '//shop.example/cart');
        expect(cart).toHaveLength(1);
        expect(cart[0]).toMatchObject({ count: 2, category: 'inline', severity: 'high' });
        expect((await store.violations({ document: old.documentURL })).items[0]).toMatchObject({ category: 'inline', severity: 'high', groupId: cart[0]!.id });
      } finally {
        await store.close();
      }
    });
  });

  it('regroups once: reopening changes nothing', async () => {
    await withOldStore(async (db) => {
      await (await openFileStore({ path: db, maxRecords: 30 })).close();
      const once = liveFile(db);
      await (await openFileStore({ path: db, maxRecords: 30 })).close();
      const twice = liveFile(db);
      expect(twice.groups).toEqual(once.groups);
      expect(twice.records.map((r) => r.groupId)).toEqual(once.records.map((r) => r.groupId));
    });
  });
});
