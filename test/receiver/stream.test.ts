import { describe, expect, it, vi } from 'vitest';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { NormalizedViolation } from '@csp-lens/schema';
import { createJsonlStream } from '../../packages/receiver/src/outputs/stream.js';
import { tempDir } from '../helpers/server.js';
import { storing } from '../helpers/stored.js';

const T0 = Date.UTC(2026, 0, 5, 10, 0, 0);
const violation = (over: Partial<NormalizedViolation> = {}): NormalizedViolation => ({
  stream: 'reportTo',
  documentURL: 'https://shop.example/checkout',
  effectiveDirective: 'script-src-elem',
  blockedURL: 'https://evil.example/x.js',
  disposition: 'enforce',
  occurredAt: T0,
  receivedAt: T0 + 50,
  count: 1,
  category: 'external',
  severity: 'medium',
  ...over,
});

/** A destination that takes one chunk per `delay` ms and pushes back at once. */
function slowSink(delay: number) {
  const chunks: string[] = [];
  const out = new Writable({
    highWaterMark: 16,
    write(chunk, _enc, done) {
      chunks.push(String(chunk));
      setTimeout(done, delay);
    },
  });
  return { out, text: () => chunks.join('') };
}

describe('JSON-lines stream', () => {
  it('appends one line per stored violation to a file, with its time, and the group and record the store gave it', async () => {
    const { dir, remove } = await tempDir();
    try {
      const path = join(dir, 'violations.jsonl');
      await writeFile(path, '{"earlier":true}\n');
      const s = createJsonlStream({ path });
      const hostile = violation({ sample: 'line1\nline2\u2028"}{', documentURL: 'https://shop.example/?q=\r\n{"forged":1}' });
      const stored = storing()([violation(), hostile]);
      s.onStored(stored);
      await s.close();
      const lines = (await readFile(path, 'utf8')).split('\n');
      expect(lines).toHaveLength(4);
      expect(lines[3]).toBe('');
      expect(JSON.parse(lines[0])).toEqual({ earlier: true });
      expect(JSON.parse(lines[1])).toEqual({ at: new Date(T0).toISOString(), groupId: stored[0].group.id, recordId: stored[0].record.id, ...violation() });
      expect(JSON.parse(lines[2]).sample).toBe('line1\nline2\u2028"}{');
      expect(s.stats()).toEqual({ written: 2, dropped: 0 });
    } finally {
      await remove();
    }
  });

  it('queues behind a slow destination without blocking, in order, and drops past its bound', async () => {
    const sink = slowSink(2);
    const s = createJsonlStream({ out: sink.out, maxPending: 50 });
    // Handed over at once, without waiting on the destination: one line written, 50 held, 49 dropped.
    const store = storing();
    for (let i = 0; i < 100; i++) s.onStored(store([violation({ lineNumber: i + 1 })]));
    expect(s.stats()).toEqual({ written: 1, dropped: 49 });
    await s.close();
    const lines = sink.text().trim().split('\n').map((l) => JSON.parse(l) as NormalizedViolation);
    // The first goes through at once; then the destination pushes back and 50 may wait.
    expect(lines.map((l) => l.lineNumber)).toEqual(Array.from({ length: 51 }, (_, i) => i + 1));
    expect(s.stats()).toEqual({ written: 51, dropped: 49 });
  });

  it('never throws into ingest when the destination breaks', async () => {
    const logs: string[] = [];
    const out = new Writable({ write: (_c, _e, done) => done(new Error('EPIPE')) });
    const s = createJsonlStream({ out, log: (m) => logs.push(m) });
    const store = storing();
    s.onStored(store([violation()]));
    await vi.waitFor(() => expect(logs).toHaveLength(1));
    expect(() => s.onStored(store([violation(), violation()]))).not.toThrow();
    await s.close();
    expect(s.stats().dropped).toBe(2);
    expect(logs).toEqual(['csp-lens: the JSON-lines stream failed, lines are dropped from now on: EPIPE']);
  });

  it('fails at start, with a message, when the file cannot be opened', () => {
    expect(() => createJsonlStream({ path: '/nonexistent-dir/x.jsonl' })).toThrow(/^csp-lens: --stream cannot open \/nonexistent-dir\/x.jsonl/);
  });
});
