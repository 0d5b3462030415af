import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { Agent } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createGenerator } from '../../bench/bodies.mjs';
import { startReceiver, type Started } from '../../bench/lib.mjs';
import { archived, documentsOf, post, served } from './helpers.js';
import { archiveFiles } from '../helpers/files.js';

const CYCLES = 10;
const SENDERS = 8;
const MAX_RECORDS = 300;

// Kill points spread over the commit cycle; a 100 ms checkpoint interval puts many of them inside
// a checkpoint (archive append, live-file rewrite, journal truncation).
const killAfterMs = (cycle: number) => 250 + ((cycle * 397) % 1200);

describe('kill -9 under sustained mixed load, journal and whole-file modes alternating on one file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'csp-lens-torture-crash-'));
  const db = join(dir, 'db.json');
  const children: Started[] = [];
  afterAll(async () => {
    await Promise.all(children.map((c) => c.kill()));
    rmSync(dir, { recursive: true, force: true });
  });

  it(`loses no acknowledged report over ${CYCLES} crash/restart cycles`, async () => {
    const began = Date.now();
    const start = async (cycle: number) => {
      // Even cycles: the journal (DESIGN §5, the CLI's default); odd: whole-file commits
      // (--journal false), which must replay a journal the previous process left.
      // Archive segments of 1 MiB: segments are sealed (renamed) all through the run, kills included.
      const extra = [...(cycle % 2 === 0 ? ['--checkpoint-ms', '100'] : ['--journal', 'false']), '--archive-segment-mb', '1'];
      const s = await startReceiver(db, { maxRecords: MAX_RECORDS, extra });
      children.push(s);
      return s;
    };
    const everAcked = new Set<string>();
    let requests = 0;
    let s = await start(0);
    for (let cycle = 0; cycle < CYCLES; cycle++) {
      const gen = createGenerator({ docs: 1_000_000, runId: `c${cycle}-` });
      const acked: string[] = [];
      const statuses: Record<number, number> = {};
      let next = 0;
      let killed = false;
      let cut = 0;
      const agent = new Agent({ keepAlive: true, maxSockets: SENDERS });
      // The kill lands a set time after the first acknowledgement, not after the start: a slow
      // machine may take a second to replay and take the first report, and a kill before it tests
      // nothing.
      let firstAck!: () => void;
      const acknowledged = new Promise<void>((r) => (firstAck = r));
      const sender = async () => {
        while (!killed) {
          const r = gen.mixed(next++);
          const reply = await post(`${s.url}${r.path}`, r.body, { 'content-type': r.type, 'user-agent': 'torture' }, { agent, timeoutMs: 5_000 });
          if (killed && reply.status === 0) return void cut++;
          statuses[reply.status] = (statuses[reply.status] ?? 0) + 1;
          requests++;
          if (reply.status === 204) acked.push(...documentsOf(r.body)), firstAck();
        }
      };
      const load = Promise.all(Array.from({ length: SENDERS }, sender));
      await acknowledged;
      await new Promise((r) => setTimeout(r, killAfterMs(cycle)));
      killed = true;
      const exit = await s.kill();
      await load;
      agent.destroy();
      expect(exit.signal).toBe('SIGKILL');
      expect(Object.keys(statuses).filter((k) => k !== '204' && k !== '0'), `cycle ${cycle}: only 204s before the kill`).toEqual([]);
      expect(acked.length, `cycle ${cycle}: some reports acknowledged`).toBeGreaterThan(0);
      for (const d of acked) everAcked.add(d);

      // What the dead process left parses, whatever it was doing.
      expect(() => JSON.parse(readFileSync(db, 'utf8')), `cycle ${cycle}: live file parses`).not.toThrow();

      // A new receiver replays the journal past the checkpoint: every acknowledged report is served
      // or archived.
      const t0 = Date.now();
      s = await start(cycle + 1);
      const restartMs = Date.now() - t0;
      const live = await served(s.url);
      const { records: arch, torn } = archived(db);
      const present = new Set([...live, ...arch].map((r) => r.documentURL));
      const lost = [...everAcked].filter((d) => !present.has(d));
      expect(lost.slice(0, 5), `cycle ${cycle}: ${lost.length} acknowledged reports lost`).toEqual([]);
      expect(live.length).toBeLessThanOrEqual(MAX_RECORDS);
      const ids = arch.map((r) => r.id);
      expect(ids.length - new Set(ids).size, `cycle ${cycle}: records archived twice`).toBe(0);
      console.log(
        `crash cycle ${cycle + 1}/${CYCLES} (${cycle % 2 ? 'whole-file' : 'journal'} killed ${killAfterMs(cycle)} ms after its first 204): ` +
          `${acked.length} reports acked, ${cut} requests in flight at the kill; after restart (${restartMs} ms, ${cycle % 2 ? 'journal' : 'whole-file'}) ` +
          `${live.length} live + ${arch.length} archived in ${archiveFiles(db).length} files (${torn} torn, ${ids.length - new Set(ids).size} duplicate ids), 0 of ${everAcked.size} lost`,
      );
    }
    await s.stop();
    // After a clean stop the live file and the archive alone hold everything; no journal is left.
    const final = JSON.parse(readFileSync(db, 'utf8'));
    const present = new Set([...final.records, ...archived(db).records].map((r: { documentURL: string }) => r.documentURL));
    expect([...everAcked].filter((d) => !present.has(d))).toEqual([]);
    console.log(`crash test: ${CYCLES} cycles, ${requests} requests, ${everAcked.size} acknowledged documents, 0 lost, ${Date.now() - began} ms`);
  }, 120_000);
});
