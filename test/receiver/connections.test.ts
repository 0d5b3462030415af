import { connect, type Socket } from 'node:net';
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { post } from '../torture/helpers.js';
import { reportUriBody } from '../helpers/bodies.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

// All of 127.0.0.0/8 is this machine: sockets bound to different sources are different clients.
const ATTACKER = '127.0.0.2';
const HONEST = '127.0.0.3';

interface Raw {
  socket: Socket;
  /** What the server sent back before it closed the socket. */
  received: () => string;
  closed: Promise<void>;
}

/** A TCP connection from `from` that sends `text` and then nothing more. */
async function stall(s: TestServer, from: string, text: string): Promise<Raw> {
  const { port } = new URL(s.url);
  const socket = connect({ host: '127.0.0.1', port: Number(port), localAddress: from });
  let received = '';
  socket.setEncoding('utf8').on('data', (c: string) => (received += c));
  socket.on('error', () => {});
  const closed = once(socket, 'close').then(() => undefined);
  await once(socket, 'connect');
  socket.write(text);
  return { socket, received: () => received, closed };
}

const headersOnly = (path: string, extra = '') => `POST /csp${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/csp-report\r\n${extra}`;

/** Resolves once every socket is closed, or fails naming how many the server left open. */
async function allClosed(sockets: Raw[], withinMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const open = () => sockets.filter((r) => !r.socket.destroyed && r.socket.readyState !== 'closed').length;
  await Promise.race([
    Promise.all(sockets.map((r) => r.closed)),
    new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`${open()} of ${sockets.length} sockets still open after ${withinMs} ms`)), withinMs))),
  ]).finally(() => clearTimeout(timer));
}

async function honestReport(s: TestServer): Promise<{ status: number; document: string }> {
  const { body, document } = reportUriBody('honest');
  const reply = await post(`${s.url}/report`, body, { 'content-type': 'application/csp-report' }, { localAddress: HONEST, timeoutMs: 10_000 });
  return { status: reply.status, document };
}

describe('a client that holds connections open', () => {
  it('gets at most its share of connections, its stalled headers and bodies are cut, and another client is still answered', async () => {
    const s = await startTestServer({ maxConnectionsPerClient: 20, headerTimeoutMs: 1000, bodyTimeoutMs: 1000 });
    const attack: Raw[] = [];
    try {
      // Bodies that stop mid-upload: headers promise 60,000 bytes, 1,000 arrive.
      for (let i = 0; i < 10; i++) attack.push(await stall(s, ATTACKER, `${headersOnly('/report', 'Content-Length: 60000\r\n')}\r\n${'x'.repeat(1000)}`));
      // Headers that never end (slowloris), far past this client's share.
      for (let i = 0; i < 50; i++) attack.push(await stall(s, ATTACKER, headersOnly('/report')));

      const honest = await honestReport(s);
      expect(honest.status).toBe(204);
      expect((await s.all()).map((r) => r.documentURL)).toEqual([honest.document]);

      // Over its share: closed at once. Within it: answered 408 and closed when the header or body
      // timeout passes.
      await allClosed(attack, 10_000);
      const answers = attack.map((r) => r.received().replace(/^HTTP\/1\.1 (\d+)[^]*?\r\n\r\n/, '$1 '));
      expect(answers.slice(0, 10)).toEqual(Array(10).fill('408 {"error":"request body timed out: nothing arrived for too long"}'));
      expect(answers.slice(10, 20)).toEqual(Array(10).fill('408 {"error":"request headers timed out"}'));
      expect(answers.slice(20)).toEqual(Array(40).fill(''));
      // Nothing of them was stored, and the client may connect again once its sockets are gone.
      const again = reportUriBody('again');
      expect((await post(`${s.url}/report`, again.body, { 'content-type': 'application/csp-report' }, { localAddress: ATTACKER })).status).toBe(204);
      expect((await s.all()).map((r) => r.documentURL).sort()).toEqual([honest.document, again.document].sort());
    } finally {
      for (const r of attack) r.socket.destroy();
      await s.close();
    }
  });

  it('cannot hold more than its share of body memory: the next upload is refused with 429, other clients get 204', async () => {
    // 1 MiB for all bodies in flight; each client at most an eighth of it (128 KiB).
    const s = await startTestServer({ maxBodyMemory: '1mb', bodyLimit: '128kb', bodyTimeoutMs: 60_000 });
    const attack: Raw[] = [];
    try {
      attack.push(await stall(s, ATTACKER, `${headersOnly('/report', 'Content-Length: 100000\r\n')}\r\n${'x'.repeat(1000)}`));
      const over = await post(`${s.url}/report`, reportUriBody('over').body.padEnd(50_000), { 'content-type': 'application/csp-report' }, { localAddress: ATTACKER });
      expect(over.status).toBe(429);
      expect(JSON.parse(over.body)).toEqual({ error: 'too many report bodies in flight from this client; retry later' });

      const honest = await honestReport(s);
      expect(honest.status).toBe(204);
      expect((await s.all()).map((r) => r.documentURL)).toEqual([honest.document]);
    } finally {
      for (const r of attack) r.socket.destroy();
      await s.close();
    }
  });

  it('answers 503 once all clients together hold the body memory, and accepts again when it is freed', async () => {
    const s = await startTestServer({ maxBodyMemory: '1mb', bodyLimit: '128kb', bodyTimeoutMs: 60_000 });
    const attack: Raw[] = [];
    try {
      // Eight clients each holding a 128 KiB upload open fill the 1 MiB.
      for (let i = 0; i < 8; i++) attack.push(await stall(s, `127.0.1.${i + 1}`, `${headersOnly('/report', `Content-Length: ${128 * 1024}\r\n`)}\r\n{`));
      const full = await honestReport(s);
      expect(full.status).toBe(503);
      for (const r of attack) r.socket.destroy();
      await Promise.all(attack.map((r) => r.closed));
      // The server sees the hang-ups a moment later; the budget is back once it has.
      await expect.poll(async () => (await honestReport(s)).status).toBe(204);
    } finally {
      for (const r of attack) r.socket.destroy();
      await s.close();
    }
  });
});
