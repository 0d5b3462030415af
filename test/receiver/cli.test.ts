import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { configFrom } from '../../packages/receiver/src/config.js';
import { startServer, type ServerConfig } from '../../packages/receiver/src/server.js';
import { cliSandbox, runCli, startCli } from '../helpers/server.js';

// DESIGN §6's CLI contract, plus the receiver options the CLI exposes.
const FLAGS = [
  'port', 'host', 'db', 'prefix', 'token', 'rate-limit', 'max-records', 'body-limit', 'cors-origins',
  'ip-mode', 'merge-window', 'group-cap', 'tls-cert', 'tls-key', 'trust-proxy',
];
// Flags of the later features (store engine, journal, alerts, stream): listed in --help too.
const MORE_FLAGS = ['ip-salt', 'store', 'database-url', 'journal', 'checkpoint-ms', 'archive-segment-mb', 'archive-keep', 'webhook', 'webhook-format', 'webhook-on', 'spike-factor', 'spike-min', 'stream'];
const envOf = (flag: string) => `CSP_LENS_${flag.toUpperCase().replace(/-/g, '_')}`;

describe('configFrom', () => {
  it('has safe defaults: localhost, /csp, rate limited, 10,000 live records, 1 MiB bodies', () => {
    expect(configFrom([], {})).toEqual({
      port: 8787,
      host: '127.0.0.1',
      db: './csp-lens.json',
      prefix: '/csp',
      token: undefined,
      rateLimit: 100,
      maxRecords: 10_000,
      bodyLimit: '1mb',
      corsOrigins: '*',
      ipMode: 'truncate',
      mergeWindowMs: 10_000,
      groupCapPerMinute: 100,
      tlsCert: undefined,
      tlsKey: undefined,
      trustProxy: false,
    });
    expect(configFrom(['serve'], {})).toEqual(configFrom([], {}));
  });

  it('reads every flag', () => {
    const argv = [
      'serve', '--port', '0', '--host', '0.0.0.0', '--db', '/var/lib/csp.json', '--prefix', '/reports',
      '--token', 'a-token-of-sixteen+', '--rate-limit', '0', '--max-records', '500', '--body-limit', '2048',
      '--cors-origins', 'https://a.example, https://b.example', '--ip-mode', 'hash', '--merge-window', '5000',
      '--group-cap', '7', '--tls-cert', 'cert.pem', '--tls-key', 'key.pem', '--trust-proxy', 'true',
    ];
    expect(configFrom(argv, {})).toEqual({
      port: 0,
      host: '0.0.0.0',
      db: '/var/lib/csp.json',
      prefix: '/reports',
      token: 'a-token-of-sixteen+',
      rateLimit: 0,
      maxRecords: 500,
      bodyLimit: 2048,
      corsOrigins: ['https://a.example', 'https://b.example'],
      ipMode: 'hash',
      mergeWindowMs: 5000,
      groupCapPerMinute: 7,
      tlsCert: 'cert.pem',
      tlsKey: 'key.pem',
      trustProxy: true,
    });
    expect(configFrom(['--port=9000', '--body-limit=512kb'], {})).toMatchObject({ port: 9000, bodyLimit: '512kb' });
  });

  it('passes a salt for hashed client IPs only when one is given', () => {
    expect(configFrom(['--ip-mode', 'hash', '--ip-salt', 's3cret'], {})).toMatchObject({ ipMode: 'hash', ipSalt: 's3cret' });
    expect(configFrom([], { CSP_LENS_IP_SALT: 'env-salt' })).toMatchObject({ ipSalt: 'env-salt' });
    expect(configFrom([], {})).not.toHaveProperty('ipSalt');
  });

  it('reads every flag from its CSP_LENS_* environment variable, and a flag wins over it', () => {
    const env = {
      CSP_LENS_PORT: '9001', CSP_LENS_HOST: '::1', CSP_LENS_DB: 'env.json', CSP_LENS_PREFIX: '/env', CSP_LENS_TOKEN: 'env-token-0123456789',
      CSP_LENS_RATE_LIMIT: '5', CSP_LENS_MAX_RECORDS: '42', CSP_LENS_BODY_LIMIT: '64kb', CSP_LENS_CORS_ORIGINS: 'https://e.example',
      CSP_LENS_IP_MODE: 'none', CSP_LENS_MERGE_WINDOW: '1', CSP_LENS_GROUP_CAP: '3', CSP_LENS_TLS_CERT: 'e.crt', CSP_LENS_TLS_KEY: 'e.key',
      CSP_LENS_TRUST_PROXY: 'true',
    };
    expect(Object.keys(env).sort()).toEqual(FLAGS.map(envOf).sort());
    expect(configFrom([], env)).toEqual({
      port: 9001, host: '::1', db: 'env.json', prefix: '/env', token: 'env-token-0123456789', rateLimit: 5, maxRecords: 42,
      bodyLimit: '64kb', corsOrigins: ['https://e.example'], ipMode: 'none', mergeWindowMs: 1, groupCapPerMinute: 3,
      tlsCert: 'e.crt', tlsKey: 'e.key', trustProxy: true,
    });
    expect(configFrom(['--port', '9002', '--db', 'flag.json', '--rate-limit', '0'], env)).toMatchObject({ port: 9002, db: 'flag.json', rateLimit: 0, host: '::1' });
  });

  it('passes archive segment options only when given, in bytes, from flags or the environment', () => {
    expect(configFrom(['--archive-segment-mb', '16', '--archive-keep', '3'], {})).toMatchObject({ archive: { segmentBytes: 16 * 1024 * 1024, keep: 3 } });
    expect(configFrom([], { CSP_LENS_ARCHIVE_KEEP: '5' })).toMatchObject({ archive: { keep: 5 } });
    expect(configFrom(['--archive-segment-mb', '0'], {})).toMatchObject({ archive: { segmentBytes: 0 } });
    expect(configFrom([], {})).not.toHaveProperty('archive');
    expect(() => configFrom(['--archive-keep=-2'], {})).toThrow('csp-lens: --archive-keep must be an integer ≥ 0, got "-2"');
    expect(() => configFrom(['--archive-segment-mb', '0.5'], {})).toThrow('csp-lens: --archive-segment-mb must be an integer ≥ 0, got "0.5"');
    expect(() => configFrom(['--archive-segment-mb', '2000000'], {})).toThrow('csp-lens: --archive-segment-mb must be at most 1048576, got "2000000"');
    expect(() => configFrom(['--max-records', '1e300'], {})).toThrow('csp-lens: --max-records must be an integer ≥ 1, got "1e300"');
  });

  it('refuses archive segment options for the PostgreSQL store before connecting, and a PostgreSQL store without a URL', async () => {
    const config = configFrom(['--store', 'postgres', '--database-url', 'postgres://127.0.0.1:1/none', '--archive-keep', '2'], {});
    await expect(startServer(config as ServerConfig)).rejects.toThrow('csp-lens: --archive-segment-mb and --archive-keep are for the file store');
    expect(() => configFrom(['--store', 'postgres'], {})).toThrow('csp-lens: --store postgres needs --database-url');
    expect(() => configFrom(['--store', 'sqlite'], {})).toThrow('csp-lens: --store must be file or postgres');
  });

  it('answers help for --help and `help`', () => {
    expect(configFrom(['--help'], {})).toBe('help');
    expect(configFrom(['help'], {})).toBe('help');
    expect(configFrom(['serve', '--port', '1', '--help'], {})).toBe('help');
  });

  it('rejects bad values with a csp-lens: --flag message', () => {
    const bad: [string[], NodeJS.ProcessEnv, string][] = [
      [['--port', 'abc'], {}, 'csp-lens: --port must be an integer ≥ 0, got "abc"'],
      [['--port', '80.5'], {}, 'csp-lens: --port must be an integer ≥ 0, got "80.5"'],
      [[], { CSP_LENS_PORT: 'eighty' }, 'csp-lens: --port must be an integer ≥ 0, got "eighty"'],
      [['--rate-limit=-1'], {}, 'csp-lens: --rate-limit must be an integer ≥ 0, got "-1"'],
      [['--max-records', '0'], {}, 'csp-lens: --max-records must be an integer ≥ 1, got "0"'],
      [['--merge-window', 'soon'], {}, 'csp-lens: --merge-window must be an integer ≥ 0, got "soon"'],
      [['--group-cap', '0'], {}, 'csp-lens: --group-cap must be an integer ≥ 1, got "0"'],
      [['--ip-mode', 'keep'], {}, 'csp-lens: --ip-mode must be truncate, hash, full or none'],
      [['start'], {}, 'csp-lens: unknown command "start"; try --help'],
    ];
    for (const [argv, env, message] of bad) expect(() => configFrom(argv, env), argv.join(' ')).toThrow(message);
    expect(() => configFrom(['--nope'], {})).toThrow(/--nope/);
  });
});

describe('the csp-lens bin', () => {
  const { children, dir } = cliSandbox();

  it('prints --help listing every flag and its environment variable', async () => {
    const { code, stdout, stderr } = await runCli(['--help']);
    expect(code).toBe(0);
    expect(stderr).toBe('');
    expect(stdout).toMatch(/^Usage: csp-lens serve \[options\]/);
    for (const flag of [...FLAGS, ...MORE_FLAGS, 'help']) expect(stdout).toMatch(new RegExp(`^  --${flag}\\b`, 'm'));
    for (const flag of [...FLAGS, ...MORE_FLAGS]) expect(stdout).toContain(`env ${envOf(flag)}`);
  });

  it('exits 2 with the message and a hint for a bad flag or command', async () => {
    for (const [args, message] of [
      [['serve', '--port', 'abc'], 'csp-lens: --port must be an integer ≥ 0, got "abc"'],
      [['serve', '--nope'], 'csp-lens: '],
      [['start'], 'csp-lens: unknown command "start"; try --help'],
    ] as const) {
      const { code, stdout, stderr } = await runCli([...args]);
      expect(code, args.join(' ')).toBe(2);
      expect(stdout).toBe('');
      expect(stderr).toContain(message);
      expect(stderr).toContain('Try csp-lens --help');
    }
  });

  it('generates and prints a token when none is given; reads need it', async () => {
    const child = await startCli(['serve', '--port', '0', '--db', join(dir(), 'token.json')]);
    children.push(child);
    expect(child.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/csp$/);
    await expect.poll(() => /read token \(generated; pass --token to keep one\): (\S+)/.exec(child.stdout())).toBeTruthy();
    const token = /read token \(generated; pass --token to keep one\): (\S+)/.exec(child.stdout())![1];
    expect(token.length).toBeGreaterThanOrEqual(16);
    expect((await fetch(`${child.url}/api/violations`)).status).toBe(401);
    expect((await fetch(`${child.url}/api/violations`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
    child.process.kill('SIGTERM');
    expect((await child.exited).code).toBe(0);
  });

  it('takes its configuration from CSP_LENS_* variables too', async () => {
    const child = await startCli(['serve'], { CSP_LENS_PORT: '0', CSP_LENS_DB: join(dir(), 'env.json'), CSP_LENS_PREFIX: '/reports' });
    children.push(child);
    expect(child.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/reports$/);
    const res = await fetch(`${child.url}/report`, { method: 'OPTIONS' });
    expect(res.status).toBe(204);
    // The banner names the readiness probe, and it answers under the prefix.
    await expect.poll(() => child.stdout()).toContain(`  health:     ${child.url}/health\n`);
    expect(await (await fetch(`${child.url}/health`)).json()).toEqual({ status: 'ok' });
    child.process.kill('SIGTERM');
    expect((await child.exited).code).toBe(0);
  });

  it('refuses a second serve on the same --db with the lock message, and exits non-zero', async () => {
    const db = join(dir(), 'locked.json');
    const first = await startCli(['serve', '--port', '0', '--db', db, '--token', 'lock-test-token-0123']);
    children.push(first);
    const second = await runCli(['serve', '--port', '0', '--db', db, '--token', 'lock-test-token-0123']);
    expect(second.code).not.toBe(0);
    expect(second.stderr).toContain(`csp-lens: ${db} is in use by process ${first.process.pid}; one receiver per store file (lock: ${db}.lock)`);
    expect(second.stdout).not.toContain('receiving at');
    // The first one is unharmed.
    const res = await fetch(`${first.url}/api/stats`, { headers: { authorization: 'Bearer lock-test-token-0123' } });
    expect(res.status).toBe(200);
    first.process.kill('SIGTERM');
    expect((await first.exited).code).toBe(0);
  });

  it('refuses --tls-cert without --tls-key at start', async () => {
    const { code, stderr } = await runCli(['serve', '--port', '0', '--db', join(dir(), 'tls.json'), '--tls-cert', 'cert.pem']);
    expect(code).toBe(1);
    expect(stderr).toContain('csp-lens: --tls-cert and --tls-key go together');
  });
});
