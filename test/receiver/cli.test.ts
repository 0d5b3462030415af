import { mkdtempSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { configFrom } from '../../packages/receiver/src/server/config.js';
import { startServer, type ServerConfig } from '../../packages/receiver/src/server/server.js';
import { cliSandbox, runCli, startCli } from '../helpers/cli.js';
import { reportUriBody } from '../helpers/bodies.js';

// DESIGN §6's CLI contract, plus the receiver options the CLI exposes.
const FLAGS = [
  'port', 'host', 'db', 'prefix', 'token', 'rate-limit', 'max-records', 'body-limit', 'cors-origins',
  'ip-mode', 'merge-window', 'group-cap', 'tls-cert', 'tls-key', 'trust-proxy',
];
// Flags of the later features (store engine, journal, alerts, stream): listed in --help too.
const MORE_FLAGS = ['ip-salt', 'store', 'database-url', 'journal', 'checkpoint-ms', 'archive-segment-mb', 'archive-keep', 'webhook', 'webhook-format', 'webhook-on', 'spike-factor', 'spike-min', 'stream',
  // Integrations (issue 19): email, syslog, the alert rules.
  'smtp-url', 'alert-email', 'email-from', 'email-on', 'smtp-ca', 'public-url', 'syslog', 'syslog-on', 'syslog-facility', 'syslog-app-name', 'syslog-ca',
  'campaign-clients', 'campaign-window', 'volume-max', 'volume-scope'];
// The caps that keep one client from holding what every client needs (issue 12).
const EDGE_FLAGS = ['ipv6-prefix', 'max-body-memory', 'max-connections', 'max-connections-per-client', 'header-timeout', 'body-timeout', 'max-live-mb', 'max-groups'];
const EDGE_DEFAULTS = { ipv6Prefix: 64, maxConnections: 10_000, maxConnectionsPerClient: 256, headerTimeoutMs: 5000, bodyTimeoutMs: 5000, maxLiveBytes: 64 * 1024 * 1024, maxGroups: 10_000 };
// What the noise filter drops and what is scrubbed out of URLs (issue 16).
const NORMALIZE_FLAGS = ['drop-localhost', 'scrub-params'];
// PostgreSQL only: its timeouts and transactions in flight.
const PG_FLAGS = ['pg-connect-timeout', 'pg-query-timeout', 'pg-transactions'];
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
      ...EDGE_DEFAULTS,
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
      '--ipv6-prefix', '56', '--max-body-memory', '8mb', '--max-connections', '500', '--max-connections-per-client', '0',
      '--header-timeout', '2000', '--body-timeout', '3000', '--max-live-mb', '8', '--max-groups', '50',
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
      // `true` was the flag's only "on": it means one proxy.
      trustProxy: 1,
      ipv6Prefix: 56,
      maxBodyMemory: '8mb',
      maxConnections: 500,
      maxConnectionsPerClient: 0,
      headerTimeoutMs: 2000,
      bodyTimeoutMs: 3000,
      maxLiveBytes: 8 * 1024 * 1024,
      maxGroups: 50,
    });
    expect(
      configFrom(['--store', 'postgres', '--database-url', 'postgres://db/x', '--pg-connect-timeout', '500', '--pg-query-timeout', '900', '--pg-transactions', '2'], {}),
    ).toMatchObject({ pgConnectTimeoutMs: 500, pgQueryTimeoutMs: 900, pgTransactions: 2 });
    expect(configFrom(['--store', 'postgres', '--database-url', 'postgres://db/x'], {})).toMatchObject({ pgConnectTimeoutMs: 3000, pgQueryTimeoutMs: 5000, pgTransactions: 1 });
    expect(() => configFrom(['--store', 'postgres', '--database-url', 'postgres://db/x', '--pg-transactions', '0'], {})).toThrow(
      'csp-lens: --pg-transactions must be an integer from 1 to 16, got "0"',
    );
    expect(() => configFrom(['--max-live-mb', '300'], {})).toThrow('csp-lens: --max-live-mb must be an integer from 1 to 256, got "300"');
    expect(configFrom(['--trust-proxy', '2'], {})).toMatchObject({ trustProxy: 2 });
    // Body memory follows a larger body limit unless it is given.
    expect(configFrom(['--body-limit', '100mb'], {})).not.toHaveProperty('maxBodyMemory');
    expect(configFrom(['--trust-proxy', 'false'], {})).toMatchObject({ trustProxy: false });
    expect(configFrom(['--trust-proxy', '0'], {})).toMatchObject({ trustProxy: false });
    expect(configFrom(['--port=9000', '--body-limit=512kb'], {})).toMatchObject({ port: 9000, bodyLimit: '512kb' });
  });

  it('reads the integration flags: email, syslog, Datadog, the alert rules, the public URL', () => {
    const config = configFrom([
      '--smtp-url', 'smtps://alerts:pw@smtp.example.com:465', '--alert-email', 'a@example.com', '--alert-email', 'b@example.com,c@example.com',
      '--email-on', 'critical,campaign', '--public-url', 'https://csp.example.com/', '--syslog', 'tcp://127.0.0.1:601', '--syslog-facility', 'local5',
      '--webhook', 'https://dd.example/api/v1/events', '--webhook-format', 'datadog', '--campaign-clients', '9', '--volume-scope', 'group',
    ], { DD_API_KEY: 'k' });
    expect(config).toMatchObject({
      email: { smtpUrl: 'smtps://alerts:pw@smtp.example.com:465', to: ['a@example.com', 'b@example.com', 'c@example.com'], on: ['critical', 'campaign'] },
      publicUrl: 'https://csp.example.com',
      syslog: { url: 'tcp://127.0.0.1:601', on: 'violations', facility: 'local5', appName: 'csp-lens' },
      webhooks: [{ url: 'https://dd.example/api/v1/events', format: 'datadog', headers: { 'DD-API-KEY': 'k' }, on: ['new-group', 'regression', 'critical', 'spike', 'campaign', 'new-inline'] }],
      rules: { campaign: { clients: 9 }, volume: { scope: 'group' } },
    });
    expect(configFrom([], { CSP_LENS_SMTP_URL: 'smtp://h.example:25', CSP_LENS_ALERT_EMAIL: 'x@example.com, y@example.com' })).toMatchObject({ email: { to: ['x@example.com', 'y@example.com'] } });
    expect(configFrom([], {})).not.toHaveProperty('rules.campaign');
    expect(() => configFrom(['--smtp-url', 'smtp://h.example:25'], {})).toThrow('csp-lens: --smtp-url needs --alert-email');
    expect(() => configFrom(['--alert-email', 'x@example.com'], {})).toThrow('csp-lens: --alert-email needs --smtp-url');
    expect(() => configFrom(['--smtp-url', 'http://h.example', '--alert-email', 'x@example.com'], {})).toThrow('csp-lens: --smtp-url must be smtp://');
    expect(() => configFrom(['--smtp-url', 'smtp://h.example:25', '--alert-email', 'not an address'], {})).toThrow('csp-lens: --alert-email must be an address');
    expect(() => configFrom(['--public-url', 'csp.example.com'], {})).toThrow("csp-lens: --public-url must be the receiver's http(s) address");
    expect(() => configFrom(['--webhook', 'https://h.example/x', '--webhook-on', 'everything'], {})).toThrow('--webhook-on takes new-group, regression, critical, spike, campaign, volume, new-inline');
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
      CSP_LENS_IPV6_PREFIX: '48', CSP_LENS_MAX_BODY_MEMORY: '1mb', CSP_LENS_MAX_CONNECTIONS: '9', CSP_LENS_MAX_CONNECTIONS_PER_CLIENT: '3',
      CSP_LENS_HEADER_TIMEOUT: '100', CSP_LENS_BODY_TIMEOUT: '200', CSP_LENS_MAX_LIVE_MB: '2', CSP_LENS_MAX_GROUPS: '7',
    };
    expect(Object.keys(env).sort()).toEqual([...FLAGS, ...EDGE_FLAGS].map(envOf).sort());
    expect(configFrom([], env)).toEqual({
      port: 9001, host: '::1', db: 'env.json', prefix: '/env', token: 'env-token-0123456789', rateLimit: 5, maxRecords: 42,
      bodyLimit: '64kb', corsOrigins: ['https://e.example'], ipMode: 'none', mergeWindowMs: 1, groupCapPerMinute: 3,
      tlsCert: 'e.crt', tlsKey: 'e.key', trustProxy: 1,
      ipv6Prefix: 48, maxBodyMemory: '1mb', maxConnections: 9, maxConnectionsPerClient: 3, headerTimeoutMs: 100, bodyTimeoutMs: 200,
      maxLiveBytes: 2 * 1024 * 1024, maxGroups: 7,
    });
    expect(configFrom(['--port', '9002', '--db', 'flag.json', '--rate-limit', '0'], env)).toMatchObject({ port: 9002, db: 'flag.json', rateLimit: 0, host: '::1' });
  });

  it('drops localhost and scrubs other parameters only when asked, from flags or the environment', () => {
    expect(configFrom([], {})).not.toHaveProperty('dropLocalhost');
    expect(configFrom([], {})).not.toHaveProperty('scrubParams');
    expect(configFrom(['--drop-localhost', 'true'], {})).toMatchObject({ dropLocalhost: true });
    expect(configFrom([], { CSP_LENS_DROP_LOCALHOST: 'true' })).toMatchObject({ dropLocalhost: true });
    expect(configFrom(['--drop-localhost', 'false'], { CSP_LENS_DROP_LOCALHOST: 'true' })).not.toHaveProperty('dropLocalhost');
    expect(configFrom(['--scrub-params', 'default, sid ,PHPSESSID'], {})).toMatchObject({ scrubParams: ['default', 'sid', 'PHPSESSID'] });
    expect(configFrom([], { CSP_LENS_SCRUB_PARAMS: 'none' })).toMatchObject({ scrubParams: [] });
    expect(() => configFrom(['--drop-localhost', 'yes'], {})).toThrow('csp-lens: --drop-localhost must be true or false');
    expect(() => configFrom(['--scrub-params', 'a=b'], {})).toThrow('csp-lens: --scrub-params must be parameter names');
    expect(() => configFrom(['--scrub-params', ','], {})).toThrow('csp-lens: --scrub-params must be parameter names');
  });

  it('passes archive segment options only when given, in bytes, from flags or the environment', () => {
    expect(configFrom(['--archive-segment-mb', '16', '--archive-keep', '3'], {})).toMatchObject({ archive: { segmentBytes: 16 * 1024 * 1024, keep: 3 } });
    expect(configFrom([], { CSP_LENS_ARCHIVE_KEEP: '5' })).toMatchObject({ archive: { keep: 5 } });
    expect(configFrom(['--archive-segment-mb', '0'], {})).toMatchObject({ archive: { segmentBytes: 0 } });
    expect(configFrom([], {})).not.toHaveProperty('archive');
    expect(() => configFrom(['--archive-keep=-2'], {})).toThrow('csp-lens: --archive-keep must be an integer ≥ 0, got "-2"');
    expect(() => configFrom(['--archive-segment-mb', '0.5'], {})).toThrow('csp-lens: --archive-segment-mb must be an integer from 0 to 1048576, got "0.5"');
    expect(() => configFrom(['--archive-segment-mb', '2000000'], {})).toThrow('csp-lens: --archive-segment-mb must be an integer from 0 to 1048576, got "2000000"');
    expect(() => configFrom(['--max-records', '1e300'], {})).toThrow('csp-lens: --max-records must be an integer ≥ 1, got "1e300"');
  });

  it('refuses archive segment options for the PostgreSQL store before connecting, and a PostgreSQL store without a URL', async () => {
    const config = configFrom(['--store', 'postgres', '--database-url', 'postgres://127.0.0.1:1/none', '--archive-keep', '2'], {});
    await expect(startServer(config as ServerConfig)).rejects.toThrow('csp-lens: --archive-segment-mb and --archive-keep are for the file store');
    expect(() => configFrom(['--store', 'postgres'], {})).toThrow('csp-lens: --store postgres needs --database-url');
    expect(() => configFrom(['--store', 'sqlite'], {})).toThrow('csp-lens: --store must be file or postgres');
  });

  it('answers help for --help, -h and `help`, and the version for --version', () => {
    expect(configFrom(['--help'], {})).toBe('help');
    expect(configFrom(['-h'], {})).toBe('help');
    expect(configFrom(['help'], {})).toBe('help');
    expect(configFrom(['serve', '--port', '1', '--help'], {})).toBe('help');
    expect(configFrom(['--version'], {})).toBe('version');
  });

  it('rejects bad values with a csp-lens: --flag message', () => {
    const bad: [string[], NodeJS.ProcessEnv, string][] = [
      [['--port', 'abc'], {}, 'csp-lens: --port must be an integer from 0 to 65535, got "abc"'],
      [['--port', '80.5'], {}, 'csp-lens: --port must be an integer from 0 to 65535, got "80.5"'],
      [['--port', '70000'], {}, 'csp-lens: --port must be an integer from 0 to 65535, got "70000"'],
      [['--port', ''], {}, 'csp-lens: --port must be an integer from 0 to 65535, got ""'],
      [[], { CSP_LENS_PORT: 'eighty' }, 'csp-lens: --port must be an integer from 0 to 65535, got "eighty"'],
      [['--body-limit', '1zb'], {}, 'csp-lens: --body-limit must be a size like 512kb, 1mb or a byte count, got "1zb"'],
      [['--body-limit', '0'], {}, 'csp-lens: --body-limit must be a size like 512kb, 1mb or a byte count, got "0"'],
      [['--max-body-memory', '512kb'], {}, 'csp-lens: --max-body-memory must be a size like 512kb, 1mb or a byte count, at least --body-limit (1048576 bytes), got "512kb"'],
      [['--ipv6-prefix', '129'], {}, 'csp-lens: --ipv6-prefix must be an integer from 1 to 128, got "129"'],
      [['--trust-proxy', 'yes'], {}, 'csp-lens: --trust-proxy must be the number of proxies in front (1 for one), true (= 1) or false, got "yes"'],
      [['--prefix', 'csp'], {}, 'csp-lens: --prefix must start with "/" and be a plain path, like /csp; got "csp"'],
      [['--token', 'short'], {}, 'csp-lens: --token must be at least 16 characters (leave it out to have one generated)'],
      [['--db', ''], {}, 'csp-lens: --db must be a file path, like ./csp-lens.json'],
      [['serve', 'extra'], {}, 'csp-lens: unexpected argument "extra"; serve takes only --flags (csp-lens --help lists them)'],
      [['--port'], {}, 'csp-lens: --port needs a value, like --port=VALUE (csp-lens --help)'],
      [['--help=yes'], {}, 'csp-lens: --help takes no value'],
      [['--rate-limit=-1'], {}, 'csp-lens: --rate-limit must be an integer ≥ 0, got "-1"'],
      [['--max-records', '0'], {}, 'csp-lens: --max-records must be an integer ≥ 1, got "0"'],
      [['--merge-window', 'soon'], {}, 'csp-lens: --merge-window must be an integer ≥ 0, got "soon"'],
      [['--group-cap', '0'], {}, 'csp-lens: --group-cap must be an integer ≥ 1, got "0"'],
      [['--ip-mode', 'keep'], {}, 'csp-lens: --ip-mode must be truncate, hash, full or none'],
      [['start'], {}, 'csp-lens: unknown command "start"; try --help'],
    ];
    for (const [argv, env, message] of bad) expect(() => configFrom(argv, env), argv.join(' ')).toThrow(message);
    expect(() => configFrom(['--nope'], {})).toThrow('csp-lens: unknown option --nope; csp-lens --help lists every flag');
  });
});

describe('the csp-lens bin', () => {
  const { children, dir } = cliSandbox();

  it('prints --help listing every flag and its environment variable', async () => {
    const { code, stdout, stderr } = await runCli(['--help']);
    expect(code).toBe(0);
    expect(stderr).toBe('');
    expect(stdout).toMatch(/^Usage: csp-lens serve \[options\]/);
    for (const flag of [...FLAGS, ...MORE_FLAGS, ...EDGE_FLAGS, ...NORMALIZE_FLAGS, ...PG_FLAGS, 'help', 'version']) expect(stdout).toMatch(new RegExp(`^  --${flag}\\b`, 'm'));
    for (const flag of [...FLAGS, ...MORE_FLAGS, ...EDGE_FLAGS, ...NORMALIZE_FLAGS, ...PG_FLAGS]) expect(stdout).toContain(`env ${envOf(flag)}`);
    expect((await runCli(['-h'])).stdout).toBe(stdout);
  });

  it('prints the receiver package version for --version', async () => {
    const { version } = JSON.parse(readFileSync(new URL('../../packages/receiver/package.json', import.meta.url), 'utf8')) as { version: string };
    expect(await runCli(['--version'])).toEqual({ code: 0, stdout: `${version}\n`, stderr: '' });
  });

  /**
   * Runs the bin in a fresh empty folder (`--db` goes inside it) and expects a refusal: exit 2,
   * nothing on stdout, ONE line on stderr matching `line`, and the folder left as empty as it was.
   */
  async function refused(args: (folder: string) => string[], line: string | RegExp): Promise<string> {
    const folder = mkdtempSync(join(dir(), 'refused-'));
    const { code, stdout, stderr } = await runCli(args(folder));
    expect({ code, stdout, lines: stderr.split('\n').filter(Boolean).length }, stderr).toEqual({ code: 2, stdout: '', lines: 1 });
    if (typeof line === 'string') expect(stderr).toBe(`${line}\n`);
    else expect(stderr).toMatch(line);
    expect(readdirSync(folder), `left behind by ${args(folder).join(' ')}`).toEqual([]);
    return stderr;
  }

  it('refuses a bad flag, value or argument in one line naming the flag, exit 2, nothing on disk', async () => {
    const db = (f: string) => ['--db', join(f, 'db.json')];
    await refused((f) => ['serve', '--port', '70000', ...db(f)], 'csp-lens: --port must be an integer from 0 to 65535, got "70000"');
    await refused((f) => ['serve', '--port', 'abc', ...db(f)], 'csp-lens: --port must be an integer from 0 to 65535, got "abc"');
    await refused((f) => ['serve', '--body-limit', '1zb', ...db(f)], 'csp-lens: --body-limit must be a size like 512kb, 1mb or a byte count, got "1zb"');
    await refused((f) => ['serve', 'extra', ...db(f)], 'csp-lens: unexpected argument "extra"; serve takes only --flags (csp-lens --help lists them)');
    await refused((f) => ['start', ...db(f)], 'csp-lens: unknown command "start"; try --help');
    await refused((f) => ['serve', '--nope', ...db(f)], 'csp-lens: unknown option --nope; csp-lens --help lists every flag');
    await refused((f) => ['serve', ...db(f), '--port'], 'csp-lens: --port needs a value, like --port=VALUE (csp-lens --help)');
    await refused((f) => ['serve', ...db(f), '--trust-proxy', 'yes'], /^csp-lens: --trust-proxy must be the number of proxies/);
    // A folder as --db, named as such (not "cannot lock …").
    await refused((f) => ['serve', '--port', '0', '--db', f], /^csp-lens: --db \S+ is a folder; pass a file path such as \S+\/csp-lens\.json\n$/);
  });

  it('refuses missing, unreadable or mismatched TLS files before it opens the store', async () => {
    const db = (f: string) => ['serve', '--port', '0', '--db', join(f, 'db.json')];
    await refused((f) => [...db(f), '--tls-cert', 'cert.pem'], 'csp-lens: --tls-cert and --tls-key go together: pass both (or neither, for http)');
    await refused((f) => [...db(f), '--tls-cert', join(f, 'missing.pem'), '--tls-key', join(f, 'missing.key')], /^csp-lens: --tls-cert \S+missing\.pem: no such file; pass a PEM file\n$/);
    const junk = join(dir(), 'junk.pem');
    writeFileSync(junk, 'not a certificate');
    await refused((f) => [...db(f), '--tls-cert', junk, '--tls-key', junk], /^csp-lens: --tls-cert and --tls-key must be a PEM certificate and its private key \(/);
  });

  it('refuses a port in use at listen time, and takes back the store files and folder it had created', async () => {
    const taken = createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
    const { port } = taken.address() as AddressInfo;
    try {
      const line = `csp-lens: --port ${port} is already in use on 127.0.0.1; stop what listens there, or pass another --port (0 picks a free one)`;
      // In an existing empty folder: the store's files go again.
      await refused((f) => ['serve', '--port', String(port), '--db', join(f, 'db.json')], line);
      // In a folder it created: the folder goes too.
      await refused((f) => ['serve', '--port', String(port), '--db', join(f, 'new', 'deeper', 'db.json')], line);
      // Beside an existing store: that store is left as it was.
      const folder = mkdtempSync(join(dir(), 'existing-'));
      const existing = await startCli(['serve', '--port', '0', '--db', join(folder, 'db.json'), '--token', 'port-test-token-0123']);
      children.push(existing);
      const { body } = reportUriBody('kept');
      expect((await fetch(`${existing.url}/report`, { method: 'POST', body, headers: { 'content-type': 'application/csp-report' } })).status).toBe(204);
      existing.process.kill('SIGTERM');
      expect((await existing.exited).code).toBe(0);
      const before = readdirSync(folder).sort();
      const again = await runCli(['serve', '--port', String(port), '--db', join(folder, 'db.json')]);
      expect({ code: again.code, stderr: again.stderr }).toEqual({ code: 2, stderr: `${line}\n` });
      expect(readdirSync(folder).sort()).toEqual(before);
      expect(readFileSync(join(folder, 'db.json'), 'utf8')).toContain(JSON.stringify(JSON.parse(body)['csp-report']['document-uri']));
    } finally {
      await new Promise((r) => taken.close(r));
    }
  });

  it('refuses a --stream it cannot open, and takes back the store it had opened', async () => {
    await refused((f) => ['serve', '--port', '0', '--db', join(f, 'db.json'), '--stream', join(f, 'missing', 'out.jsonl')], /^csp-lens: --stream cannot open /);
  });

  it('creates a missing --db folder and stores there', async () => {
    const db = join(dir(), 'made', 'for', 'it', 'db.json');
    const child = await startCli(['serve', '--port', '0', '--db', db, '--token', 'mkdir-test-token-0123']);
    children.push(child);
    const { body, document } = reportUriBody('mkdir');
    expect((await fetch(`${child.url}/report`, { method: 'POST', body, headers: { 'content-type': 'application/csp-report' } })).status).toBe(204);
    const res = await fetch(`${child.url}/api/violations`, { headers: { authorization: 'Bearer mkdir-test-token-0123' } });
    expect(((await res.json()) as { items: { documentURL: string }[] }).items.map((r) => r.documentURL)).toEqual([document]);
    child.process.kill('SIGTERM');
    expect((await child.exited).code).toBe(0);
    expect(readdirSync(dirname(db))).toContain('db.json');
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

  it('refuses a second serve on the same --db (or a symlink to it) in one line naming --db, exit 2, leaving the first unharmed', async () => {
    const db = join(dir(), 'locked.json');
    const first = await startCli(['serve', '--port', '0', '--db', db, '--token', 'lock-test-token-0123']);
    children.push(first);
    const link = join(dir(), 'locked-link.json');
    symlinkSync(db, link);
    for (const path of [db, link]) {
      const second = await runCli(['serve', '--port', '0', '--db', path, '--token', 'lock-test-token-0123']);
      expect({ code: second.code, stdout: second.stdout }).toEqual({ code: 2, stdout: '' });
      expect(second.stderr).toBe(`csp-lens: --db ${path} is in use by process ${first.process.pid}; one receiver per store file: stop it, or pass another --db (lock: ${db}.lock)\n`);
    }
    // The first one is unharmed.
    const res = await fetch(`${first.url}/api/stats`, { headers: { authorization: 'Bearer lock-test-token-0123' } });
    expect(res.status).toBe(200);
    first.process.kill('SIGTERM');
    expect((await first.exited).code).toBe(0);
  });
});
