import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { configFrom } from '../../packages/receiver/src/server/config.js';
import type { ServerConfig } from '../../packages/receiver/src/server/server.js';
import { startTestServer } from '../helpers/server.js';

// --webhook-format datadog against a local HTTP sink standing in for the Events API.

interface Posted {
  path: string;
  headers: IncomingHttpHeaders;
  body: Record<string, unknown>;
}

async function sink() {
  const posted: Posted[] = [];
  const waiting: (() => void)[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      posted.push({ path: req.url!, headers: req.headers, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) });
      res.writeHead(202, { 'content-type': 'application/json' }).end('{"status":"ok"}');
      for (const w of waiting.splice(0)) w();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v1/events`,
    posted,
    async received(n: number) {
      while (posted.length < n) await new Promise<void>((r) => waiting.push(r));
      return posted;
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

describe('Datadog events', () => {
  it('posts the Events API shape: title, text, tags, alert_type, the key in DD-API-KEY', async () => {
    const dd = await sink();
    closers.push(dd.close);
    const config = configFrom(['--webhook', dd.url, '--webhook-format', 'datadog', '--public-url', 'https://csp.example.com/'], { DD_API_KEY: 'dd-key-0123' }) as ServerConfig;
    const t = await startTestServer({ webhooks: config.webhooks, publicUrl: config.publicUrl });
    closers.push(() => t.close());
    const report = { 'document-uri': 'https://shop.example/pay', 'effective-directive': 'connect-src', 'blocked-uri': 'https://exfil.example/c?d=@channel', 'script-sample': '@here\nfake line' };
    expect((await t.post('/report', JSON.stringify({ 'csp-report': report }), 'application/csp-report')).status).toBe(204);
    const [event] = await dd.received(1);
    const [group] = (await (await t.api('/groups')).json()).items;
    expect(event.path).toBe('/api/v1/events');
    expect(event.headers['dd-api-key']).toBe('dd-key-0123');
    expect(event.headers['content-type']).toBe('application/json');
    expect(event.body).toEqual({
      title: 'New CSP violation group: connect-src blocked https://exfil.example',
      text: expect.any(String),
      tags: ['security:csp', 'directive:connect-src', `severity:${group.severity}`, 'csp_alert:new-group', `csp_group:${group.id}`, 'csp_category:external'],
      alert_type: group.severity === 'critical' ? 'error' : expect.stringMatching(/^(warning|info)$/),
      aggregation_key: group.id,
      date_happened: expect.any(Number),
    });
    const text = event.body.text as string;
    expect(text).toContain('Document: https://shop.example/pay');
    expect(text).toContain(`Group: ${group.id} https://csp.example.com/csp/dashboard?group=${group.id}`);
    // No @-mention reaches Datadog, no forged line.
    expect(text).not.toMatch(/@(channel|here)/);
    expect(text.split('\n').some((l) => l.startsWith('fake line'))).toBe(false);
  });

  it('cuts the title to 100 characters and turns tag values into what Datadog keeps', async () => {
    const dd = await sink();
    closers.push(dd.close);
    const t = await startTestServer({ webhooks: [{ url: dd.url, format: 'datadog', headers: { 'DD-API-KEY': 'k' } }] });
    closers.push(() => t.close());
    const directive = `Script-Src-Elem ${'x'.repeat(300)}`;
    await t.post('/report', JSON.stringify({ 'csp-report': { 'document-uri': 'https://shop.example/', 'effective-directive': directive, 'blocked-uri': 'https://a.example/x.js' } }), 'application/csp-report');
    const [event] = await dd.received(1);
    expect((event.body.title as string).length).toBeLessThanOrEqual(100);
    const tags = event.body.tags as string[];
    for (const tag of tags) expect(tag).toMatch(/^[a-z0-9_\-:./]{1,200}$/);
  });

  it('refuses --webhook-format datadog without DD_API_KEY', () => {
    expect(() => configFrom(['--webhook', 'https://dd.invalid/api/v1/events', '--webhook-format', 'datadog'], {})).toThrow('csp-lens: --webhook-format datadog needs the API key in the environment: DD_API_KEY');
  });
});
