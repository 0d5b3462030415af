import { parseArgs } from 'node:util';
import type { ServerConfig } from './server.js';
import { spikeFrom, webhooksFrom } from './outputs.js';

// Every flag is also an environment variable: --rate-limit ⇔ CSP_LENS_RATE_LIMIT.
const FLAGS = {
  port: ['port for the receiver', '8787'],
  host: ['interface to bind', '127.0.0.1'],
  db: ['the JSON store file (records past --max-records go to <db>.archive.jsonl, then <db>.archive.<n>.jsonl segments)', './csp-lens.json'],
  store: ['where records live: file (the --db JSON file) or postgres (--database-url, shared by instances)', 'file'],
  'database-url': ['PostgreSQL connection string for --store postgres (also read from DATABASE_URL)', ''],
  prefix: ['path prefix of every route', '/csp'],
  token: ['bearer token for the read API and dashboard (generated and printed when absent)', ''],
  'rate-limit': ['requests per second per client; 0 turns it off', '100'],
  'max-records': ['records kept in the live file', '10000'],
  journal: ["true: a commit is an fsync'd append to <db>.journal.jsonl and the live file a periodic checkpoint; false: every commit rewrites the live file (default true)", ''],
  'checkpoint-ms': ['with --journal true: rewrite the live file from memory at least this often, in ms (default 30000)', ''],
  'archive-segment-mb': ['seal the open archive segment (<db>.archive.jsonl) as <db>.archive.<n>.jsonl at this size, in MiB; 0: one file (default 64)', ''],
  'archive-keep': ['sealed archive segments kept, the newest; older ones are deleted (default 0: keep all)', ''],
  'body-limit': ['largest accepted body (bytes, or like 512kb, 1mb)', '1mb'],
  'cors-origins': ['origins allowed to post reports, comma-separated, or *', '*'],
  'ip-mode': ['what is kept of client IPs: truncate (/24, /48), hash, full, none', 'truncate'],
  'ip-salt': ['salt for --ip-mode hash (random per process when absent: hashes then change on restart)', ''],
  'merge-window': ['ms within which an SDK event and a native report can be one violation', '10000'],
  'group-cap': ['new groups allowed per minute before the overflow group takes the rest', '100'],
  'tls-cert': ['PEM certificate file: serve https (report-to only reaches https endpoints)', ''],
  'tls-key': ['PEM key file for --tls-cert', ''],
  'trust-proxy': ['trust X-Forwarded-For from a reverse proxy (true/false)', 'false'],
  webhook: ['POST alerts (new group, critical, spike) to this URL; repeat the flag or separate with commas', ''],
  'webhook-format': ['slack or json (unset: slack for *.slack.com, json otherwise)', ''],
  'webhook-on': ['which alerts to send, comma-separated', 'new-group,critical,spike'],
  'spike-factor': ["spike: a group's hour at least this many times its trailing 24 h average (default 10)", ''],
  'spike-min': ['spike: and at least this many violations in that hour (default 50)', ''],
  stream: ['append every stored violation as a JSON line to this file, or - for stdout (SIEM)', ''],
} as const;
type Flag = keyof typeof FLAGS;

const envName = (flag: string) => `CSP_LENS_${flag.toUpperCase().replace(/-/g, '_')}`;

export function usage(): string {
  const rows = Object.entries(FLAGS).map(
    ([flag, [what, def]]) => `  --${flag.padEnd(18)} ${what}${def ? ` (default ${def})` : ''}\n  ${''.padEnd(20)} env ${envName(flag)}`,
  );
  return `Usage: csp-lens serve [options]\n\nReceives CSP violation reports (report-uri, report-to, the csp-lens SDK) and serves the read API and dashboard.\n\nOptions:\n${rows.join('\n')}\n  --help               this text\n`;
}

function integer(flag: Flag, value: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < min) throw new Error(`csp-lens: --${flag} must be an integer ≥ ${min}, got ${JSON.stringify(value)}`);
  if (n > max) throw new Error(`csp-lens: --${flag} must be at most ${max}, got ${JSON.stringify(value)}`);
  return n;
}

function archiveFrom(segmentMb: string, keep: string): Pick<ServerConfig, 'archive'> {
  if (!segmentMb && !keep) return {};
  return {
    archive: {
      ...(segmentMb ? { segmentBytes: integer('archive-segment-mb', segmentMb, 0, 1024 * 1024) * 1024 * 1024 } : {}),
      ...(keep ? { keep: integer('archive-keep', keep, 0) } : {}),
    },
  };
}

export function configFrom(argv: string[], env: NodeJS.ProcessEnv): ServerConfig | 'help' {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { help: { type: 'boolean' }, ...Object.fromEntries(Object.keys(FLAGS).map((f) => [f, { type: 'string' as const, multiple: f === 'webhook' }])) },
  });
  if (values.help || positionals[0] === 'help') return 'help';
  if (positionals.length && positionals[0] !== 'serve') throw new Error(`csp-lens: unknown command ${JSON.stringify(positionals[0])}; try --help`);
  const get = (f: Flag): string => ((values as Record<string, unknown>)[f] as string | undefined) ?? env[envName(f)] ?? FLAGS[f][1];
  const origins = get('cors-origins');
  const ipMode = get('ip-mode');
  if (!['truncate', 'hash', 'full', 'none'].includes(ipMode)) throw new Error('csp-lens: --ip-mode must be truncate, hash, full or none');
  const store = get('store');
  if (store !== 'file' && store !== 'postgres') throw new Error('csp-lens: --store must be file or postgres');
  const journal = get('journal');
  if (journal && journal !== 'true' && journal !== 'false') throw new Error('csp-lens: --journal must be true or false');
  const databaseUrl = get('database-url') || env.DATABASE_URL || '';
  if (store === 'postgres' && !databaseUrl) throw new Error('csp-lens: --store postgres needs --database-url (or CSP_LENS_DATABASE_URL, DATABASE_URL)');
  return {
    port: integer('port', get('port'), 0),
    host: get('host'),
    db: get('db'),
    ...(store === 'postgres' ? { store, databaseUrl } : {}),
    prefix: get('prefix'),
    token: get('token') || undefined,
    rateLimit: integer('rate-limit', get('rate-limit'), 0),
    maxRecords: integer('max-records', get('max-records'), 1),
    ...(journal === 'false' ? { journal: false } : {}),
    checkpointMs: get('checkpoint-ms') ? integer('checkpoint-ms', get('checkpoint-ms'), 1) : undefined,
    ...archiveFrom(get('archive-segment-mb'), get('archive-keep')),
    bodyLimit: /^\d+$/.test(get('body-limit')) ? Number(get('body-limit')) : get('body-limit'),
    corsOrigins: origins === '*' ? '*' : origins.split(',').map((o) => o.trim()).filter(Boolean),
    ipMode: ipMode as ServerConfig['ipMode'],
    ...(get('ip-salt') ? { ipSalt: get('ip-salt') } : {}),
    mergeWindowMs: integer('merge-window', get('merge-window'), 0),
    groupCapPerMinute: integer('group-cap', get('group-cap'), 1),
    tlsCert: get('tls-cert') || undefined,
    tlsKey: get('tls-key') || undefined,
    trustProxy: get('trust-proxy') === 'true',
    webhooks: webhooksFrom((values as Record<string, unknown>).webhook ?? env[envName('webhook')], get('webhook-format'), get('webhook-on')),
    spike: spikeFrom(get('spike-factor'), get('spike-min')),
    stream: get('stream') || undefined,
  };
}
