import { createSocket } from 'node:dgram';
import { createServer as createTcp, type AddressInfo, type Server, type Socket } from 'node:net';
import { createServer as createTls } from 'node:tls';
import selfsigned from 'selfsigned';
import type { NormalizedViolation } from '@csp-lens/schema';
import { afterEach, describe, expect, it } from 'vitest';
import { createSyslog, type SyslogConfig } from '../../packages/receiver/src/outputs/syslog.js';
import { configFrom } from '../../packages/receiver/src/server/config.js';
import { storing } from '../helpers/stored.js';
import { startTestServer } from '../helpers/server.js';

// Syslog to collectors started here on 127.0.0.1: UDP, TCP and TLS (a self-signed certificate),
// RFC 5424 messages, octet counting on the streams.

const T0 = Date.UTC(2026, 0, 5, 10, 0, 0);

function violation(i = 0, over: Partial<NormalizedViolation> = {}): NormalizedViolation {
  return {
    stream: 'reportUri',
    documentURL: `https://shop.example/p${i}`,
    effectiveDirective: 'img-src',
    blockedURL: `https://cdn.example/x${i}.png`,
    disposition: 'enforce',
    occurredAt: T0 + i,
    receivedAt: T0 + i,
    count: 1,
    category: 'external',
    severity: 'medium',
    originalPolicy: "img-src 'self'",
    ...over,
  };
}

interface Collector {
  url: string;
  messages: string[];
  /** Resolves once `n` messages arrived. */
  received(n: number): Promise<string[]>;
  /** Stream collectors: drops every open connection. */
  drop(): void;
  close(): Promise<void>;
}

function collecting(): Pick<Collector, 'messages' | 'received'> & { push(m: string): void } {
  const messages: string[] = [];
  const waiting: (() => void)[] = [];
  return {
    messages,
    push(m) {
      messages.push(m);
      for (const w of waiting.splice(0)) w();
    },
    async received(n) {
      while (messages.length < n) await new Promise<void>((r) => waiting.push(r));
      return messages;
    },
  };
}

async function udpCollector(): Promise<Collector> {
  const c = collecting();
  const socket = createSocket('udp4');
  socket.on('message', (m) => c.push(m.toString('utf8')));
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', r));
  return { ...c, url: `udp://127.0.0.1:${socket.address().port}`, drop: () => {}, close: () => new Promise<void>((r) => socket.close(() => r())) };
}

/** Reads octet-counted frames (RFC 6587 §3.4.1): `<length> <message>`, the length in bytes. */
function frames(onMessage: (m: string) => void) {
  let buf = Buffer.alloc(0);
  return (chunk: Buffer) => {
    buf = Buffer.concat([buf, chunk]);
    for (;;) {
      const space = buf.indexOf(0x20);
      if (space < 0) return;
      const len = Number(buf.subarray(0, space).toString());
      if (!Number.isInteger(len)) throw new Error(`not octet counting: ${buf.subarray(0, 40).toString()}`);
      if (buf.length < space + 1 + len) return;
      onMessage(buf.subarray(space + 1, space + 1 + len).toString('utf8'));
      buf = buf.subarray(space + 1 + len);
    }
  };
}

async function streamCollector(tls?: { key: string; cert: string }, port = 0): Promise<Collector & { port: number }> {
  const c = collecting();
  const sockets = new Set<Socket>();
  const onConnection = (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    s.on('data', frames(c.push));
  };
  const server: Server = tls ? createTls({ key: tls.key, cert: tls.cert }, onConnection) : createTcp(onConnection);
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  const bound = (server.address() as AddressInfo).port;
  return {
    ...c,
    port: bound,
    url: `${tls ? 'tls' : 'tcp'}://127.0.0.1:${bound}`,
    drop: () => sockets.forEach((s) => s.destroy()),
    close: () =>
      new Promise<void>((r) => {
        sockets.forEach((s) => s.destroy());
        server.close(() => r());
      }),
  };
}

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

function syslog(config: SyslogConfig) {
  const out = createSyslog({ hostname: 'receiver-1', ...config });
  closers.push(() => out.close());
  const stored = storing();
  return { out, store: (vs: NormalizedViolation[]) => out.onStored!(stored(vs)) };
}

const RFC5424 = /^<(\d+)>1 (\S+) (\S+) (\S+) (\d+) (\S+) (\[csp@32473(?: [a-z]+="(?:[^"\\\]]|\\["\\\]])*")*\]) CSP_VIOLATION: (.*)$/s;

describe('syslog', () => {
  it('sends one RFC 5424 message per stored violation over UDP: warning, local0, CSP_VIOLATION: {json}', async () => {
    const collector = await udpCollector();
    closers.push(collector.close);
    const { store } = syslog({ url: collector.url });
    store([violation(1), violation(2)]);
    const messages = await collector.received(2);
    const m = RFC5424.exec(messages[0]);
    expect(m, messages[0]).not.toBeNull();
    const [, pri, time, host, app, pid, msgid, sd, json] = m!;
    expect(Number(pri)).toBe(16 * 8 + 4);
    expect(time).toBe(new Date(T0 + 1).toISOString());
    expect([host, app, Number(pid), msgid]).toEqual(['receiver-1', 'csp-lens', process.pid, 'violation']);
    expect(sd).toContain('directive="img-src"');
    const body = JSON.parse(json);
    expect(body).toMatchObject({ documentURL: 'https://shop.example/p1', blockedURL: 'https://cdn.example/x1.png', groupId: expect.stringMatching(/^g/), recordId: expect.stringMatching(/^r/) });
    expect(body.originalPolicy).toBeUndefined();
  });

  it('keeps hostile text inside its fields: escaped structured data, printable-ASCII JSON, no extra messages', async () => {
    const collector = await streamCollector();
    closers.push(collector.close);
    const { store } = syslog({ url: collector.url, facility: 'local7', appName: 'csp' });
    const hostile = 'x"] [evil@1 a="b"]\n<13>1 2026-01-01T00:00:00Z forged - - - - fake\r\u00e9\u202e\u{1F600}';
    store([violation(1, { documentURL: `https://shop.example/${hostile}`, sample: hostile })]);
    const [message] = await collector.received(1);
    const m = RFC5424.exec(message);
    expect(m, message).not.toBeNull();
    expect(Number(m![1])).toBe(23 * 8 + 4);
    expect(m![4]).toBe('csp');
    expect(/^[\x20-\x7e]*$/.test(m![8])).toBe(true);
    expect(JSON.parse(m![8]).sample).toBe(hostile);
    expect(m![7]).toContain('document="https://shop.example/x\\"\\] [evil@1 a=\\"b\\"\\]<13>1');
  });

  it('frames messages by octet count over TLS and trusts the collector through --syslog-ca', async () => {
    const pems = await selfsigned.generate([{ name: 'commonName', value: 'localhost' }], { keyType: 'ec', extensions: [{ name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }] }] });
    const collector = await streamCollector({ key: pems.private, cert: pems.cert });
    closers.push(collector.close);
    const { store } = syslog({ url: collector.url, ca: pems.cert });
    store(Array.from({ length: 50 }, (_, i) => violation(i, { sample: 'é'.repeat(i) })));
    const messages = await collector.received(50);
    expect(messages.map((m) => JSON.parse(RFC5424.exec(m)![8]).documentURL)).toEqual(Array.from({ length: 50 }, (_, i) => `https://shop.example/p${i}`));
  });

  it('reconnects with backoff while the collector is down, and after it drops the connection', async () => {
    const probe = await streamCollector();
    const port = probe.port;
    await probe.close();
    const { out, store } = syslog({ url: `tcp://127.0.0.1:${port}` });
    // Refused: tried again with backoff, held in the queue meanwhile (ingest never waits for it).
    store([violation(1), violation(2)]);
    const collector = await streamCollector(undefined, port);
    closers.push(collector.close);
    await collector.received(2);
    collector.drop();
    store(Array.from({ length: 10 }, (_, i) => violation(3 + i)));
    const last = 'https://shop.example/p12';
    const docs = () => collector.messages.map((m) => JSON.parse(RFC5424.exec(m)![8]).documentURL as string);
    while (!docs().includes(last)) await collector.received(collector.messages.length + 1);
    // TCP acknowledges nothing: what went into the dropped connection before its end was seen is
    // lost (RFC 6587 §4), the rest arrives in order on a new one.
    const after = docs().slice(2);
    const lost = 10 - after.length;
    console.log(`syslog: ${lost} of 10 messages written as the collector dropped the connection were lost`);
    expect(lost).toBeLessThan(10);
    expect(after).toEqual([...after].sort((a, b) => Number(a.slice(23)) - Number(b.slice(23))));
    expect(out.stats()).toMatchObject({ sent: 12, dropped: 0 });
  });

  it('holds at most its queue while the collector is down, and drops and counts the rest', async () => {
    const collector = await streamCollector();
    const port = collector.port;
    await collector.close();
    const out = createSyslog({ url: `tcp://127.0.0.1:${port}` });
    closers.push(() => out.close());
    const stored = storing()(Array.from({ length: 12_000 }, (_, k) => violation(k)));
    const started = performance.now();
    for (let i = 0; i < 12; i++) out.onStored!(stored.slice(i * 1000, (i + 1) * 1000));
    expect(out.stats().dropped).toBe(2_000);
    // Synchronous: the queue took them without waiting (reported, not asserted).
    console.log(`syslog: 12,000 violations queued in ${(performance.now() - started).toFixed(0)} ms with the collector down`);
  });

  it('sends alerts only with --syslog-on alerts: CSP_ALERT: {json}, the reason as MSGID', async () => {
    const collector = await udpCollector();
    closers.push(collector.close);
    const config = configFrom(['--syslog', collector.url, '--syslog-on', 'alerts', '--syslog-app-name', 'csp-lens-test'], {});
    const t = await startTestServer({ syslog: (config as { syslog: SyslogConfig }).syslog });
    closers.push(() => t.close());
    const report = (blocked: string) => JSON.stringify({ 'csp-report': { 'document-uri': 'https://shop.example/pay', 'effective-directive': 'img-src', 'blocked-uri': blocked } });
    await t.post('/report', report('https://a.example/1.png'), 'application/csp-report');
    await t.post('/report', report('https://a.example/2.png'), 'application/csp-report');
    const [message] = await collector.received(1);
    expect(message).toMatch(/^<132>1 \S+ \S+ csp-lens-test \d+ new-group \[csp@32473 reason="new-group" group="g[0-9a-f]{16}" directive="img-src" severity="\w+" blocked="https:\/\/a\.example" document="https:\/\/shop\.example\/pay"\] CSP_ALERT: \{/);
    expect(JSON.parse(message.slice(message.indexOf('CSP_ALERT: ') + 11))).toMatchObject({ event: 'new-group', group: { blocked: 'https://a.example' } });
    // The second report is no new group: one message in all.
    const more = await t.post('/report', report('https://b.example/3.png'), 'application/csp-report');
    expect(more.status).toBe(204);
    await collector.received(2);
    expect(collector.messages.map((m) => /blocked="([^"]*)"/.exec(m)![1])).toEqual(['https://a.example', 'https://b.example']);
  });

  it.each([
    [['--syslog', 'http://x:1'], '--syslog must be udp://host:514, tcp://host:601 or tls://host:6514'],
    [['--syslog', 'udp://127.0.0.1'], '--syslog must be'],
    [['--syslog', 'udp://127.0.0.1:514', '--syslog-on', 'everything'], '--syslog-on must be violations or alerts'],
    [['--syslog', 'udp://127.0.0.1:514', '--syslog-facility', 'local9'], '--syslog-facility must be'],
    [['--syslog', 'udp://127.0.0.1:514', '--syslog-app-name', 'a b'], '--syslog-app-name must be'],
  ])('refuses %j', (argv, message) => {
    expect(() => configFrom(argv, {})).toThrow(message);
  });
});
