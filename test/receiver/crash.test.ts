import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ViolationGroup, ViolationPage, ViolationRecord } from '@csp-lens/schema';
import { cliSandbox, startCli, type Child } from '../helpers/cli.js';
import { archiveLines, readStoreFiles } from '../helpers/files.js';
import { reportUriBody } from '../helpers/bodies.js';
import { TOKEN } from '../helpers/server.js';
import { allRecords, readApi } from '../helpers/records.js';

const CYCLES = 3;
const SENDERS = 8;
const MAX_RECORDS = 100;
// Different kill points per cycle, so the kill lands in different phases of the group commit.
const ACKS_BEFORE_KILL = [300, 420, 260];
// The store flags of each process: the journal as shipped, one with checkpoints every 20 ms (so
// kills land inside them), whole-file commits; the last one replays what that left.
const STORE_FLAGS = [[], ['--checkpoint-ms', '20'], ['--journal', 'false'], []];

/** Every record the receiver serves, through the read API. */
const served = (url: string) => allRecords(readApi(url, TOKEN));

/**
 * Distinct reports from several concurrent senders until `target` are acknowledged; then kill -9
 * with requests still in flight. Returns the documents whose report got a 204.
 */
async function loadAndKill(child: Child, cycle: number, target: number) {
  const acked: string[] = [];
  const statuses: Record<string, number> = {};
  let inFlight = 0;
  let inFlightAtKill = -1;
  let killed = false;
  const sender = async (n: number) => {
    for (let i = 0; !killed; i++) {
      const { body, document } = reportUriBody(`c${cycle}s${n}i${i}`);
      inFlight++;
      try {
        const res = await fetch(`${child.url}/report`, { method: 'POST', body, headers: { 'content-type': 'application/csp-report' } });
        await res.arrayBuffer();
        statuses[res.status] = (statuses[res.status] ?? 0) + 1;
        if (res.status === 204) acked.push(document);
        if (acked.length >= target && !killed) {
          killed = true;
          inFlightAtKill = inFlight - 1;
          child.process.kill('SIGKILL');
        }
      } catch {
        return; // the receiver is gone
      } finally {
        inFlight--;
      }
    }
  };
  await Promise.all(Array.from({ length: SENDERS }, (_, n) => sender(n)));
  const exit = await child.exited;
  return { acked, statuses, inFlightAtKill, exit };
}

describe('kill -9 under load', () => {
  const { children, dir } = cliSandbox();

  it(`loses no acknowledged report over ${CYCLES} crash/restart cycles, and restarts on the same file`, async () => {
    const db = join(dir(), 'crash.json');
    const args = ['serve', '--port', '0', '--host', '127.0.0.1', '--db', db, '--rate-limit', '0', '--max-records', String(MAX_RECORDS), '--token', TOKEN];
    let started = 0;
    const start = async () => {
      const child = await startCli([...args, ...STORE_FLAGS[started++]]);
      children.push(child);
      return child;
    };
    const everAcked = new Set<string>();
    const began = Date.now();
    let child = await start();

    for (let cycle = 0; cycle < CYCLES; cycle++) {
      const { acked, statuses, inFlightAtKill, exit } = await loadAndKill(child, cycle, ACKS_BEFORE_KILL[cycle]);
      expect(exit.signal).toBe('SIGKILL');
      expect(Object.keys(statuses).filter((s) => s !== '204'), 'only 204s before the kill').toEqual([]);
      expect(acked.length).toBeGreaterThanOrEqual(ACKS_BEFORE_KILL[cycle]);
      for (const d of acked) everAcked.add(d);

      // What the dead process left: the live file parses (it is only ever replaced by a rename), and
      // it, the archive and the journal past its checkpoint hold every report ever acknowledged.
      const files = readStoreFiles(db);
      const lost = [...everAcked].filter((d) => !files.documents.has(d));
      expect(lost, `cycle ${cycle}: acknowledged but not on disk`).toEqual([]);
      expect(files.live.length).toBeLessThanOrEqual(MAX_RECORDS);
      expect(files.torn.archive, 'at most the lines the kills cut').toBeLessThanOrEqual(cycle + 1);
      expect(files.torn.journal, 'at most the lines the kills cut').toBeLessThanOrEqual(cycle + 1);
      expect(readFileSync(`${db}.lock`, 'utf8')).toBe(String(child.process.pid));

      // A new receiver takes over the dead one's lock, replays the journal and serves what the files
      // held: every acknowledged report is served or archived, exactly once.
      const t0 = Date.now();
      child = await start();
      const restartMs = Date.now() - t0;
      expect(readFileSync(`${db}.lock`, 'utf8')).toBe(String(child.process.pid));
      const records = (await served(child.url)).map((r) => r.documentURL);
      const archived = readStoreFiles(db).archived.map((r) => r.documentURL);
      const present = [...records, ...archived];
      expect([...everAcked].filter((d) => !present.includes(d)), `cycle ${cycle}: acknowledged but lost after restart`).toEqual([]);
      expect(records.filter((d) => !files.documents.has(d)), 'serves only what the files held').toEqual([]);
      expect(present.length - new Set(present).size, 'no report both served and archived, or archived twice').toBe(0);
      expect(records.length).toBeLessThanOrEqual(MAX_RECORDS);
      console.log(
        `crash cycle ${cycle + 1} (${STORE_FLAGS[cycle].join(' ') || 'defaults'}): ${acked.length} acked (${inFlightAtKill} in flight at kill -9), ` +
          `on disk ${files.live.length} live + ${files.journaled.length} journaled + ${files.archived.length} archived ` +
          `(${files.torn.journal} torn journal, ${files.torn.archive} torn archive lines); after restart ${records.length} served + ` +
          `${archived.length} archived, 0 of ${everAcked.size} acknowledged lost, restart ${restartMs} ms`,
      );
    }

    // The last receiver still ingests, and a clean stop releases the lock and leaves the live file
    // and the archive holding everything, no journal.
    const { body, document } = reportUriBody('final');
    const res = await fetch(`${child.url}/report`, { method: 'POST', body, headers: { 'content-type': 'application/csp-report' } });
    expect(res.status).toBe(204);
    everAcked.add(document);
    child.process.kill('SIGTERM');
    expect((await child.exited).code).toBe(0);
    expect(existsSync(`${db}.lock`)).toBe(false);
    expect(existsSync(db.replace(/json$/, 'journal.jsonl'))).toBe(false);
    const final = readStoreFiles(db);
    expect([...everAcked].filter((d) => !final.documents.has(d))).toEqual([]);
    console.log(`crash test: ${CYCLES} cycles, ${everAcked.size} reports acknowledged, ${Date.now() - began} ms`);
  }, 90_000);

  // An erasure killed at any moment: after the restart it happened whole or not at all, and every
  // acknowledged report it does not select is still there, once; the groups count what is left.
  const ERASE_KILL_MS = [0, 15, 25, 35, 45, 80];
  it(`finishes or forgets an erasure killed at any moment (${ERASE_KILL_MS.length} kills), losing nothing else`, async () => {
    const db = join(dir(), 'erase.json');
    const args = ['serve', '--port', '0', '--host', '127.0.0.1', '--db', db, '--rate-limit', '0', '--max-records', '40', '--archive-segment-mb', '1', '--token', TOKEN];
    const start = async (extra: string[] = []) => {
      const c = await startCli([...args, ...extra]);
      children.push(c);
      return c;
    };
    const key = (r: { documentURL: string; blockedURL?: string }) => `${r.documentURL} ${r.blockedURL}`;
    const acked = new Set<string>();
    const erased = new Set<string>();
    let n = 0;
    const post = async (url: string, doc: string) => {
      const blocked = `https://tracker.example/p${n++}.gif`;
      const { body } = reportUriBody('e', { 'document-uri': doc, 'blocked-uri': blocked });
      const res = await fetch(`${url}/report`, { method: 'POST', body, headers: { 'content-type': 'application/csp-report' } });
      await res.arrayBuffer();
      if (res.status === 204) acked.add(`${doc} ${blocked}`);
    };
    let child = await start();
    for (const [cycle, delay] of ERASE_KILL_MS.entries()) {
      const doc = `https://shop.example/erase-${cycle}`;
      // Records of the erased page, live and archived, among others.
      for (let i = 0; i < 600; i += 8) await Promise.all(Array.from({ length: 8 }, (_, k) => post(child.url, (i + k) % 3 ? `https://shop.example/keep-${(i + k) % 5}` : doc)));
      const before = new Set([...acked].filter((k) => k.startsWith(`${doc} `)));
      let answered = false;
      const erasing = fetch(`${child.url}/api/violations?document=${encodeURIComponent(doc)}`, { method: 'DELETE', headers: { authorization: `Bearer ${TOKEN}` } })
        .then(async (res) => (answered = res.status === 200, await res.arrayBuffer()))
        .catch(() => undefined);
      // Appends keep coming while it runs; the kill lands somewhere in it (or after it).
      let stop = false;
      const more = Promise.all(Array.from({ length: 4 }, async () => {
        while (!stop) await post(child.url, `https://shop.example/keep-${n % 5}`).catch(() => (stop = true));
      }));
      await new Promise((r) => setTimeout(r, delay));
      child.process.kill('SIGKILL');
      await child.exited;
      stop = true;
      await Promise.all([erasing, more]);
      child = await start(cycle % 2 ? ['--checkpoint-ms', '20'] : []);
      const live = await served(child.url);
      const archived = archiveLines<ViolationRecord>(db).items;
      const present = [...live, ...archived].map(key);
      const left = [...before].filter((k) => present.includes(k)).length;
      // Whole or not at all; and whole when it was answered.
      expect([0, before.size], `cycle ${cycle}: ${left} of ${before.size} erased records left`).toContain(left);
      if (answered) expect(left).toBe(0);
      if (!left) for (const k of before) erased.add(k);
      expect([...acked].filter((k) => !erased.has(k) && !present.includes(k)), `cycle ${cycle}: acknowledged and lost`).toEqual([]);
      expect(present.length - new Set(present).size, 'no record twice').toBe(0);
      const groups = (await (await fetch(`${child.url}/api/groups?limit=500`, { headers: { authorization: `Bearer ${TOKEN}` } })).json()).items as ViolationGroup[];
      for (const g of groups) expect(g.records, `group ${g.blocked}`).toBe([...live, ...archived].filter((r) => r.groupId === g.id).length);
      const resumed = /finishing 1 erasure\(s\)/.test(child.stderr());
      console.log(`erase kill ${cycle + 1} at ${delay} ms: ${answered ? 'answered, ' : ''}${left ? 'not applied' : resumed ? 'interrupted, finished at restart' : 'applied'} (${before.size} records of the page), ${live.length} live + ${archived.length} archived after restart`);
    }
    child.process.kill('SIGTERM');
    expect((await child.exited).code).toBe(0);
  }, 120_000);
});
