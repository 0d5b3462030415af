import { mkdtempSync, rmSync } from 'node:fs';
import { Agent } from 'node:http';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createGenerator } from '../../bench/bodies.mjs';
import { memoryOf, startReceiver, type Started } from '../../bench/lib.mjs';
import { documentsOf, post, served } from './helpers.js';

const FLOOD_MS = 10_000;
const FLOODERS = 48;
const RATE = 100; // the CLI default: 100/s per client, bursts of 400

// Two clients on one machine: the receiver keys its rate limit by the peer address, and all of
// 127.0.0.0/8 is loopback, so binding the sockets to different sources makes them two clients.
const ATTACKER = '127.0.0.2';
const HONEST = '127.0.0.3';

describe('one client floods far above the rate limit while another reports honestly', () => {
  const dir = mkdtempSync(join(tmpdir(), 'csp-lens-torture-flood-'));
  let s: Started | undefined;
  afterAll(async () => {
    await s?.kill();
    rmSync(dir, { recursive: true, force: true });
  });

  it('accepts every honest report and keeps the receiver’s memory bounded', async () => {
    s = await startReceiver(join(dir, 'db.json'), { rateLimit: RATE, maxRecords: 100_000 });
    const receiver = s;
    const gen = createGenerator({ docs: 1_000_000, runId: 'f-' });
    const honestGen = createGenerator({ docs: 1_000_000, runId: 'honest-' });
    const attackerAgent = new Agent({ keepAlive: true, maxSockets: FLOODERS });
    const honestAgent = new Agent({ keepAlive: true, maxSockets: 2 });
    const end = Date.now() + FLOOD_MS;
    const flood: Record<number, number> = {};
    const memory: number[] = [];
    const sampler = setInterval(() => memory.push(memoryOf(receiver.pid).rss), 250);

    // The attacker: 48 connections back to back, distinct valid bodies (the worst case: a body
    // that gets through is parsed, merged and stored).
    let n = 0;
    const attacker = async () => {
      while (Date.now() < end) {
        const r = gen.mixed(n++);
        const reply = await post(`${receiver.url}${r.path}`, r.body, { 'content-type': r.type }, { localAddress: ATTACKER, agent: attackerAgent, timeoutMs: 10_000 });
        flood[reply.status] = (flood[reply.status] ?? 0) + 1;
      }
    };
    // The honest client: a page's worth of reports every 100 ms, well under the limit.
    const honest: { status: number; docs: string[] }[] = [];
    const reporter = async () => {
      for (let i = 0; Date.now() < end; i++) {
        const r = honestGen.mixed(i);
        const reply = await post(`${receiver.url}${r.path}`, r.body, { 'content-type': r.type }, { localAddress: HONEST, agent: honestAgent, timeoutMs: 10_000 });
        honest.push({ status: reply.status, docs: documentsOf(r.body) });
        await new Promise((res) => setTimeout(res, 100));
      }
    };
    const t0 = Date.now();
    await Promise.all([...Array.from({ length: FLOODERS }, attacker), reporter()]);
    clearInterval(sampler);
    attackerAgent.destroy();
    honestAgent.destroy();
    const seconds = (Date.now() - t0) / 1000;

    const attempts = Object.values(flood).reduce((a, b) => a + b, 0);
    const { peak } = memoryOf(receiver.pid);
    const firstHalf = Math.max(...memory.slice(0, memory.length >> 1));
    const secondHalf = Math.max(...memory.slice(memory.length >> 1));
    console.log(
      `flood: attacker ${attempts} requests in ${seconds.toFixed(1)} s (${Math.round(attempts / seconds)}/s, limit ${RATE}/s): ${JSON.stringify(flood)}; ` +
        `honest ${honest.length} requests: ${honest.filter((h) => h.status === 204).length} accepted; ` +
        `receiver RSS max ${(firstHalf / 2 ** 20).toFixed(0)} MiB first half, ${(secondHalf / 2 ** 20).toFixed(0)} MiB second half, peak ${(peak / 2 ** 20).toFixed(0)} MiB`,
    );
    expect(honest.length).toBeGreaterThan(20);
    expect(honest.filter((h) => h.status !== 204)).toEqual([]);
    // It was a flood: most of its requests were over the limit (how many it made depends on the machine).
    expect(flood[429]).toBeGreaterThan(attempts * 0.5);
    expect(Object.keys(flood).filter((k) => k !== '204' && k !== '429')).toEqual([]);
    // The attacker got at most its burst plus its rate through.
    expect(flood[204] ?? 0).toBeLessThanOrEqual(400 + RATE * (seconds + 1));
    // Every honest report is stored.
    const stored = new Set((await served(receiver.url)).map((r) => r.documentURL));
    expect(honest.flatMap((h) => h.docs).filter((d) => !stored.has(d))).toEqual([]);
    expect(peak).toBeLessThan(400 * 2 ** 20);
    expect(secondHalf).toBeLessThan(firstHalf * 1.5 + 32 * 2 ** 20);
  }, 60_000);
});

describe('one client holds connections and stalled uploads open while another reports honestly', () => {
  const dir = mkdtempSync(join(tmpdir(), 'csp-lens-torture-slow-'));
  let s: Started | undefined;
  afterAll(async () => {
    await s?.kill();
    rmSync(dir, { recursive: true, force: true });
  });

  // The CLI's defaults: 256 connections per client, 5 s for headers and for a stalled body, 64 MiB
  // of bodies in flight (8 MiB per client). Measured before they existed: 350 stalled 1 MB uploads
  // held 384-399 MiB for 30-60 s each, and half-open connections were held 30-60 s.
  const HALF_OPEN = 2000;
  const STALLED = 300;

  it('answers and stores every honest report, closes every stalled socket, and holds a bounded memory', async () => {
    s = await startReceiver(join(dir, 'db.json'), { rateLimit: RATE, maxRecords: 100_000 });
    const receiver = s;
    const { port } = new URL(receiver.url);
    const base = memoryOf(receiver.pid).rss;
    const sockets: { socket: Socket; closed: Promise<unknown> }[] = [];
    const open = (text: string) => {
      const socket = connect({ host: '127.0.0.1', port: Number(port), localAddress: ATTACKER });
      socket.on('error', () => {});
      socket.resume(); // read what the server answers, so its close reaches us
      socket.on('connect', () => socket.write(text));
      sockets.push({ socket, closed: new Promise((r) => socket.once('close', r)) });
    };
    const mb = 'x'.repeat(1000 * 1000);
    const upload = `POST /csp/report HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/csp-report\r\nTransfer-Encoding: chunked\r\n\r\n${mb.length.toString(16)}\r\n${mb}\r\n`;
    let peak = base;
    const sampler = setInterval(() => (peak = Math.max(peak, memoryOf(receiver.pid).rss)), 100);

    const honestGen = createGenerator({ docs: 1_000_000, runId: 'slow-honest-' });
    const honest: { status: number; docs: string[] }[] = [];
    let attacking = true;
    const reporter = async () => {
      for (let i = 0; attacking || i < 10; i++) {
        const r = honestGen.mixed(i);
        const reply = await post(`${receiver.url}${r.path}`, r.body, { 'content-type': r.type }, { localAddress: HONEST, timeoutMs: 10_000 });
        honest.push({ status: reply.status, docs: documentsOf(r.body) });
        await new Promise((res) => setTimeout(res, 100));
      }
    };
    const attack = async () => {
      for (let i = 0; i < STALLED; i++) open(upload);
      for (let i = 0; i < HALF_OPEN; i++) {
        open('POST /csp/report HTTP/1.1\r\nHost: 127.0.0.1\r\n');
        if (i % 100 === 99) await new Promise((res) => setTimeout(res, 50));
      }
      // Every one of them is closed by the server: at once over the client's share, else at a timeout.
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.all(sockets.map((x) => x.closed)),
        new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`${sockets.filter((x) => !x.socket.destroyed).length} attacker sockets still open after 30 s`)), 30_000))),
      ]).finally(() => {
        clearTimeout(timer);
        attacking = false;
      });
    };
    await Promise.all([attack(), reporter()]);
    clearInterval(sampler);

    console.log(
      `slow clients: ${STALLED} stalled 1 MB uploads and ${HALF_OPEN} half-open connections from one address; ` +
        `honest ${honest.length} requests: ${honest.filter((h) => h.status === 204).length} accepted; ` +
        `receiver RSS ${(base / 2 ** 20).toFixed(0)} MiB at start, max ${(peak / 2 ** 20).toFixed(0)} MiB`,
    );
    expect(honest.filter((h) => h.status !== 204)).toEqual([]);
    const stored = new Set((await served(receiver.url)).map((r) => r.documentURL));
    expect(honest.flatMap((h) => h.docs).filter((d) => !stored.has(d))).toEqual([]);
    // What one client's uploads may hold (8 MiB) plus the garbage of reading the refused ones (measured
    // 60-82 MiB), not the ~400 MiB the 300 uploads held before.
    expect(peak - base).toBeLessThan(200 * 2 ** 20);
  }, 90_000);
});
