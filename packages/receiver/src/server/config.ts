import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { ServerConfig } from './server.js';
import { emailFrom, publicUrlFrom, rulesFrom, spikeFrom, syslogFrom, webhooksFrom } from '../outputs/index.js';
import { DEFAULT_REASONS } from '../outputs/alerts.js';
import { parseSize } from '../http/size.js';
import { CORE_DEFAULTS } from '../core/options.js';
import { parseSeverityFlag } from '../core/severity.js';

const MiB = 1024 * 1024;

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
  'ipv6-prefix': ['IPv6 clients are counted per prefix of this length (rate limit, connection and memory caps): a subscriber usually has a whole /64', '64'],
  'max-records': ['records kept in the live file', String(CORE_DEFAULTS.maxRecords)],
  'max-live-mb': ['MiB of live content (records, groups, policies, page contexts) kept in memory and the live file, whatever arrives; past it the oldest records of the client holding the most go to the archive early (file store; 1 to 256)', String(CORE_DEFAULTS.maxLiveBytes / MiB)],
  'max-groups': ['groups without a live record kept, the most recently seen; older ones are let go (their records stay in the archive)', String(CORE_DEFAULTS.maxGroups)],
  journal: ["true: a commit is an fsync'd append to <db>.journal.jsonl and the live file a periodic checkpoint; false: every commit rewrites the live file (default true)", ''],
  'checkpoint-ms': ['with --journal true: rewrite the live file from memory at least this often, in ms (default 30000)', ''],
  'archive-segment-mb': ['seal the open archive segment (<db>.archive.jsonl) as <db>.archive.<n>.jsonl at this size, in MiB; 0: one file (default 64)', ''],
  'archive-keep': ['sealed archive segments kept, the newest; older ones are deleted (default 0: keep all)', ''],
  'body-limit': ['largest accepted body (bytes, or like 512kb, 1mb)', '1mb'],
  'max-body-memory': ['request bodies held in memory at once, all clients together (one client at most an eighth); past it 429/503 (default 64mb, or 8 × --body-limit when larger)', ''],
  'max-connections': ['open connections at most (never past the open-file limit less 256 for the store)', '10000'],
  'max-connections-per-client': ['open connections per client; 0 turns it off (off with --trust-proxy: every connection is the proxy\'s)', '256'],
  'header-timeout': ['ms within which a request\'s headers (and a TLS handshake) must arrive', '5000'],
  'body-timeout': ['ms an upload may send nothing before it is answered 408 and closed', '5000'],
  'cors-origins': ['origins allowed to post reports, comma-separated, or *; a POST with another Origin is refused (403), one without Origin accepted', '*'],
  'ip-mode': ['what is kept of client IPs: truncate (/24, /48), hash, full, none', 'truncate'],
  'ip-salt': ['salt for --ip-mode hash (random per process when absent: hashes then change on restart)', ''],
  'merge-window': ['ms within which an SDK event and a native report can be one violation', String(CORE_DEFAULTS.mergeWindowMs)],
  'group-cap': ['new groups allowed per minute before the overflow group takes the rest', String(CORE_DEFAULTS.groupCapPerMinute)],
  'drop-localhost': ['true: drop reports whose document, blocked URL or source file is on localhost (counted as filtered: localhost)', 'false'],
  'scrub-params': ['query and fragment parameters whose values are replaced by [scrubbed] in every URL of a report, comma-separated, case-insensitive; "default" stands for the built-in list (token, access_token, code, state, session, password, key, secret, sig, …), "none" scrubs nothing', 'default'],
  severity: ['a severity rule of your own, selector=severity (connect-src=high, script-src:inline=critical, *:external=low); repeat the flag or separate with commas', ''],
  'tls-cert': ['PEM certificate file: serve https (report-to only reaches https endpoints)', ''],
  'tls-key': ['PEM key file for --tls-cert', ''],
  'trust-proxy': ['reverse proxies in front whose X-Forwarded-For is trusted: a count (1: one proxy; true means 1) or false; the client is the address the outermost one appended', 'false'],
  webhook: ['POST alerts (new group, regression, critical, spike, campaign, volume, new inline script) to this URL; repeat the flag or separate with commas', ''],
  'webhook-format': ['slack, json or datadog (Events API body; the API key from DD_API_KEY) (unset: slack for *.slack.com, json otherwise)', ''],
  'webhook-on': ['which alerts to send, comma-separated, of new-group, regression, critical, spike, campaign, volume, new-inline', DEFAULT_REASONS.join(',')],
  'smtp-url': ['send alerts by email through this server: smtp://user:pass@host:587 (STARTTLS when offered) or smtps://user:pass@host:465', ''],
  'alert-email': ['the address email alerts go to; repeat the flag or separate with commas', ''],
  'email-from': ['the From address of email alerts (default the SMTP user when it is an address, else csp-lens@<this host>)', ''],
  'email-on': ['which alerts to email, comma-separated (as --webhook-on)', DEFAULT_REASONS.join(',')],
  'smtp-ca': ['PEM file of a CA to trust for the SMTP server (a private CA)', ''],
  'public-url': ["the receiver's address as its users reach it, like https://csp.example.com: alerts link to the group in the dashboard there", ''],
  syslog: ['send RFC 5424 syslog to udp://host:514, tcp://host:601 or tls://host:6514 (CSP_VIOLATION: {json} at warning level)', ''],
  'syslog-on': ['violations (one message per stored violation) or alerts (one per alert, as --webhook-on\'s default)', 'violations'],
  'syslog-facility': ['syslog facility: local0 … local7, user, security, … or 0 to 23', 'local0'],
  'syslog-app-name': ['syslog APP-NAME', 'csp-lens'],
  'syslog-ca': ['PEM file of a CA to trust for a tls:// collector (a private CA)', ''],
  'campaign-clients': ['campaign alert: one group from more than this many distinct clients within --campaign-window (default 5)', ''],
  'campaign-window': ['campaign alert: the window, in ms (default 3600000)', ''],
  'volume-max': ['volume alert (only sent where asked for with --webhook-on/--email-on): more than this many violations in the last hour (default 10)', ''],
  'volume-scope': ['volume alert: counted over all groups together (store) or each group apart (group) (default store)', ''],
  'spike-factor': ["spike: a group's hour at least this many times its trailing 24 h average (default 10)", ''],
  'spike-min': ['spike: and at least this many violations in that hour (default 50)', ''],
  stream: ['append every stored violation as a JSON line to this file, or - for stdout (SIEM)', ''],
  'pg-connect-timeout': ['--store postgres: ms to get a connection before a report is answered 503', '3000'],
  'pg-query-timeout': ['--store postgres: ms a statement may take (client and server side) before a report is answered 503', '5000'],
  'pg-transactions': ['--store postgres: write transactions in flight at once per instance, each on a connection of its own (1 to 16); 2 where the database is far and has cores to spare', '1'],
} as const;
type Flag = keyof typeof FLAGS;

const envName = (flag: string) => `CSP_LENS_${flag.toUpperCase().replace(/-/g, '_')}`;

export function usage(): string {
  const rows = Object.entries(FLAGS).map(
    ([flag, [what, def]]) => `  --${flag.padEnd(26)} ${what}${def ? ` (default ${def})` : ''}\n  ${''.padEnd(28)} env ${envName(flag)}`,
  );
  return `Usage: csp-lens serve [options]\n\nReceives CSP violation reports (report-uri, report-to, the csp-lens SDK) and serves the read API and dashboard.\n\nOptions:\n${rows.join('\n')}\n  --help, -h                   this text\n  --version                    the receiver's version\n`;
}

/** The receiver package's version: from the package.json above this module (in dist/ or in src/). */
export function version(): string {
  for (const up of ['../package.json', '../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(up, import.meta.url), 'utf8')) as { name?: string; version: string };
      if (pkg.name === '@csp-lens/receiver') return pkg.version;
    } catch {
      // not this one
    }
  }
  return 'unknown';
}

function integer(flag: Flag, value: string, min: number, max?: number): number {
  const n = value.trim() === '' ? NaN : Number(value);
  if (!Number.isSafeInteger(n) || n < min || (max !== undefined && n > max)) {
    throw new Error(`csp-lens: --${flag} must be an integer ${max === undefined ? `≥ ${min}` : `from ${min} to ${max}`}, got ${JSON.stringify(value)}`);
  }
  return n;
}

function size(flag: Flag, value: string, min = 1, minName = ''): number | string {
  const bytes = parseSize(value);
  if (bytes === undefined || bytes < min) {
    throw new Error(`csp-lens: --${flag} must be a size like 512kb, 1mb or a byte count${minName ? `, at least ${minName} (${min} bytes)` : ''}, got ${JSON.stringify(value)}`);
  }
  return /^\d+$/.test(value) ? bytes : value;
}

/** `--trust-proxy`: how many proxies; `true` is one (the flag was a boolean first), `false` none. */
function hops(value: string): number | false {
  if (value === 'true') return 1;
  if (value === 'false' || value === '') return false;
  if (!/^\d+$/.test(value)) throw new Error(`csp-lens: --trust-proxy must be the number of proxies in front (1 for one), true (= 1) or false, got ${JSON.stringify(value)}`);
  return Number(value) || false;
}

/** parseArgs' own errors, in ours: one line, the flag, the fix. */
function argsError(e: Error & { code?: string }): Error {
  const quoted = /'([^']*)'/.exec(e.message)?.[1] ?? '';
  const flag = /--[\w-]+/.exec(quoted)?.[0] ?? /-\w/.exec(quoted)?.[0] ?? quoted;
  if (e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') return new Error(`csp-lens: unknown option ${flag}; csp-lens --help lists every flag`);
  if (e.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
    if (/does not take an argument/.test(e.message)) return new Error(`csp-lens: ${flag} takes no value`);
    return new Error(`csp-lens: ${flag} needs a value, like ${flag}=VALUE (csp-lens --help)`);
  }
  return new Error(`csp-lens: ${e.message}`);
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

/** `--severity` (repeated, or comma-separated): rules over the built-in severities. */
function severityFrom(values: unknown): Pick<ServerConfig, 'severity'> {
  const list = [values ?? []].flat().map(String);
  return list.length ? { severity: parseSeverityFlag(list) } : {};
}

/** A PEM file's text, read at start so that a wrong path is a usage error. */
function pem(flag: Flag, path: string): string | undefined {
  if (!path) return undefined;
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw new Error(`csp-lens: --${flag} cannot read ${path}: ${(e as Error).message}`);
  }
}

export function configFrom(argv: string[], env: NodeJS.ProcessEnv): ServerConfig | 'help' | 'version' {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean' },
        ...Object.fromEntries(Object.keys(FLAGS).map((f) => [f, { type: 'string' as const, multiple: f === 'webhook' || f === 'alert-email' || f === 'severity' }])),
      },
    });
  } catch (e) {
    throw argsError(e as Error);
  }
  const { values, positionals } = parsed;
  if (values.help || positionals[0] === 'help') return 'help';
  if (values.version) return 'version';
  if (positionals.length && positionals[0] !== 'serve') throw new Error(`csp-lens: unknown command ${JSON.stringify(positionals[0])}; try --help`);
  if (positionals.length > 1) throw new Error(`csp-lens: unexpected argument ${JSON.stringify(positionals[1])}; serve takes only --flags (csp-lens --help lists them)`);
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
  if (!get('db')) throw new Error('csp-lens: --db must be a file path, like ./csp-lens.json');
  if (!get('host')) throw new Error('csp-lens: --host must be an address, like 127.0.0.1 (or 0.0.0.0 for every interface)');
  const prefix = get('prefix').replace(/\/+$/, '');
  if (prefix && !/^\/[\w\-./~]*$/.test(prefix)) throw new Error(`csp-lens: --prefix must start with "/" and be a plain path, like /csp; got ${JSON.stringify(get('prefix'))}`);
  if (get('token') && get('token').length < 16) throw new Error('csp-lens: --token must be at least 16 characters (leave it out to have one generated)');
  const dropLocalhost = get('drop-localhost');
  if (dropLocalhost !== 'true' && dropLocalhost !== 'false') throw new Error('csp-lens: --drop-localhost must be true or false');
  const scrubParams = get('scrub-params').trim() === 'none' ? [] : get('scrub-params').split(',').map((p) => p.trim()).filter(Boolean);
  if (get('scrub-params').trim() !== 'none' && (!scrubParams.length || scrubParams.some((p) => /[&=#?\s]/.test(p)))) throw new Error(`csp-lens: --scrub-params must be parameter names separated by commas, like default,sid; or none; got ${JSON.stringify(get('scrub-params'))}`);
  const bodyLimit = size('body-limit', get('body-limit'));
  const bodyMemory = get('max-body-memory') ? size('max-body-memory', get('max-body-memory'), parseSize(bodyLimit)!, '--body-limit') : undefined;
  return {
    port: integer('port', get('port'), 0, 65535),
    host: get('host'),
    db: get('db'),
    ...(store === 'postgres' ? { store, databaseUrl } : {}),
    prefix: get('prefix'),
    token: get('token') || undefined,
    rateLimit: integer('rate-limit', get('rate-limit'), 0),
    ipv6Prefix: integer('ipv6-prefix', get('ipv6-prefix'), 1, 128),
    maxConnections: integer('max-connections', get('max-connections'), 1),
    maxConnectionsPerClient: integer('max-connections-per-client', get('max-connections-per-client'), 0),
    headerTimeoutMs: integer('header-timeout', get('header-timeout'), 1),
    bodyTimeoutMs: integer('body-timeout', get('body-timeout'), 1),
    maxRecords: integer('max-records', get('max-records'), 1),
    maxLiveBytes: integer('max-live-mb', get('max-live-mb'), 1, 256) * MiB,
    maxGroups: integer('max-groups', get('max-groups'), 1),
    ...(store === 'postgres'
      ? {
          pgConnectTimeoutMs: integer('pg-connect-timeout', get('pg-connect-timeout'), 1),
          pgQueryTimeoutMs: integer('pg-query-timeout', get('pg-query-timeout'), 1),
          pgTransactions: integer('pg-transactions', get('pg-transactions'), 1, 16),
        }
      : {}),
    ...(journal === 'false' ? { journal: false } : {}),
    checkpointMs: get('checkpoint-ms') ? integer('checkpoint-ms', get('checkpoint-ms'), 1) : undefined,
    ...archiveFrom(get('archive-segment-mb'), get('archive-keep')),
    bodyLimit,
    ...(bodyMemory !== undefined ? { maxBodyMemory: bodyMemory } : {}),
    corsOrigins: origins === '*' ? '*' : origins.split(',').map((o) => o.trim()).filter(Boolean),
    ipMode: ipMode as ServerConfig['ipMode'],
    ...(get('ip-salt') ? { ipSalt: get('ip-salt') } : {}),
    ...(dropLocalhost === 'true' ? { dropLocalhost: true } : {}),
    // Only when not the built-in list: the default leaves it to createReceiver.
    ...(get('scrub-params').trim() !== 'default' ? { scrubParams } : {}),
    mergeWindowMs: integer('merge-window', get('merge-window'), 0),
    groupCapPerMinute: integer('group-cap', get('group-cap'), 1),
    ...severityFrom((values as Record<string, unknown>).severity ?? env[envName('severity')]),
    tlsCert: get('tls-cert') || undefined,
    tlsKey: get('tls-key') || undefined,
    trustProxy: hops(get('trust-proxy')),
    webhooks: webhooksFrom((values as Record<string, unknown>).webhook ?? env[envName('webhook')], get('webhook-format'), get('webhook-on'), env.DD_API_KEY),
    spike: spikeFrom(get('spike-factor'), get('spike-min')),
    email: emailFrom(get('smtp-url'), (values as Record<string, unknown>)['alert-email'] ?? env[envName('alert-email')], get('email-from'), get('email-on'), pem('smtp-ca', get('smtp-ca'))),
    syslog: syslogFrom(get('syslog'), get('syslog-on'), get('syslog-facility'), get('syslog-app-name'), pem('syslog-ca', get('syslog-ca'))),
    rules: rulesFrom(get('campaign-clients'), get('campaign-window'), get('volume-max'), get('volume-scope')),
    publicUrl: publicUrlFrom(get('public-url')),
    stream: get('stream') || undefined,
  };
}
