import { readFileSync } from 'node:fs';
import { createServer as createHttp, type Server } from 'node:http';
import { createServer as createHttps } from 'node:https';
import type { AddressInfo } from 'node:net';
import Koa from 'koa';
import { createReceiver, type Receiver, type ReceiverOptions } from './receiver.js';
import { openFileStore } from './store/file.js';
import type { ArchiveOptions } from './store/archive.js';
import { openOutputs, type OutputConfig, type Outputs } from './outputs.js';

export interface ServerConfig extends Omit<ReceiverOptions, 'store'>, OutputConfig {
  port?: number;
  host?: string;
  /** The JSON store file. */
  db: string;
  /** `postgres`: records live in the PostgreSQL database at `databaseUrl` (several instances share it). */
  store?: 'file' | 'postgres';
  databaseUrl?: string;
  maxRecords?: number;
  /** false: every commit rewrites the whole live file instead of appending to the journal (DESIGN §5). */
  journal?: boolean;
  /** How often the journal's live file is rewritten as a checkpoint (default 30 s). */
  checkpointMs?: number;
  /** Archive segments of the file store: sealed at `segmentBytes` (default 64 MiB), the newest `keep` kept (default 0: all). */
  archive?: ArchiveOptions;
  mergeWindowMs?: number;
  groupCapPerMinute?: number;
  /** PEM text, or a path to a PEM file; both or neither. */
  tlsCert?: string;
  tlsKey?: string;
  /** Trust X-Forwarded-For (behind a reverse proxy). */
  trustProxy?: boolean;
}

export interface RunningServer {
  url: string;
  token: string;
  receiver: Receiver;
  server: Server;
  close(): Promise<void>;
}

const pem = (value: string) => (value.includes('-----BEGIN') ? value : readFileSync(value, 'utf8'));

/** The receiver as a standalone app (the CLI's `serve`). */
export async function startServer(config: ServerConfig): Promise<RunningServer> {
  if (!!config.tlsCert !== !!config.tlsKey) throw new Error('csp-lens: --tls-cert and --tls-key go together');
  if (config.store === 'postgres' && config.archive) throw new Error('csp-lens: --archive-segment-mb and --archive-keep are for the file store (PostgreSQL keeps evicted records in csp_lens_archive)');
  const tuning = { maxRecords: config.maxRecords, mergeWindowMs: config.mergeWindowMs, groupCapPerMinute: config.groupCapPerMinute };
  // Loaded only when asked for, so a file-store receiver never loads pg.
  const store =
    config.store === 'postgres'
      ? await (await import('./store/postgres.js')).openPostgresStore({ connectionString: config.databaseUrl ?? '', ...tuning })
      : await openFileStore({ path: config.db, ...tuning, journal: config.journal === false ? false : { checkpointMs: config.checkpointMs }, archive: config.archive });
  let outputs: Outputs | undefined;
  try {
    // Alerts and the JSON-lines stream hang off onStored (after a batch is durable).
    outputs = await openOutputs(config, store);
    const receiver = createReceiver({ ...config, store, onStored: outputs.onStored });
    const app = new Koa({ proxy: !!config.trustProxy });
    app.silent = true;
    app.on('error', (err: Error & { status?: number; code?: string }) => {
      // A client that hangs up mid-upload is its own problem, not the receiver's: no log line.
      if (err.code === 'ECONNRESET' || err.code === 'EPIPE' || err.code?.startsWith('HPE_')) return;
      if (!err.status || err.status >= 500) console.error('csp-lens:', err.message);
    });
    app.use(receiver.middleware());
    const tls = config.tlsCert && config.tlsKey ? { cert: pem(config.tlsCert), key: pem(config.tlsKey) } : undefined;
    const server = tls ? createHttps(tls, app.callback()) : createHttp(app.callback());
    // A slow or stalled client must not hold a socket forever (slowloris).
    server.requestTimeout = 30_000;
    server.headersTimeout = 10_000;
    server.keepAliveTimeout = 5_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(config.port ?? 8787, config.host ?? '127.0.0.1', () => resolve());
    });
    const { address, port } = server.address() as AddressInfo;
    const host = address.includes(':') ? `[${address}]` : address;
    let closing: Promise<void> | undefined;
    return {
      url: `${tls ? 'https' : 'http'}://${host}:${port}${receiver.prefix}`,
      token: receiver.token,
      receiver,
      server,
      close: () =>
        (closing ??= (async () => {
          await new Promise<void>((resolve) => {
            server.close(() => resolve());
            server.closeIdleConnections();
            // In-flight requests get a moment to be acknowledged, then the sockets go.
            setTimeout(() => server.closeAllConnections(), 2_000).unref();
          });
          await outputs?.close();
          await store.close();
        })()),
    };
  } catch (e) {
    await outputs?.close();
    await store.close();
    throw e;
  }
}
