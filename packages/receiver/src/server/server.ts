import { createServer as createHttp, type Server } from 'node:http';
import { createServer as createHttps } from 'node:https';
import type { AddressInfo } from 'node:net';
import Koa from 'koa';
import { createReceiver, type Receiver, type ReceiverOptions } from '../http/receiver.js';
import { openFileStore } from '../store/file/index.js';
import type { ArchiveOptions } from '../store/file/archive.js';
import { openOutputs, type OutputConfig, type Outputs } from '../outputs/index.js';
import { mountSignals } from '../http/signals.js';
import { answerClientErrors, connectionCap, limitConnections } from './connections.js';
import { UsageError, listenError, prepareDb, readTls, storeError, type StartFiles } from './startup.js';
import type { Store } from '../core/types.js';
import type { CoreOptions } from '../core/options.js';

export interface ServerConfig extends Omit<ReceiverOptions, 'store'>, OutputConfig, CoreOptions {
  port?: number;
  host?: string;
  /** The JSON store file; its folder is created when missing. */
  db: string;
  /** `postgres`: records live in the PostgreSQL database at `databaseUrl` (several instances share it). */
  store?: 'file' | 'postgres';
  databaseUrl?: string;
  /** PostgreSQL: ms to get a connection, and ms a statement may take (defaults 3 s, 5 s). */
  pgConnectTimeoutMs?: number;
  pgQueryTimeoutMs?: number;
  /** PostgreSQL: write transactions in flight at once per instance (default 1). */
  pgTransactions?: number;
  /** false: every commit rewrites the whole live file instead of appending to the journal (DESIGN §5). */
  journal?: boolean;
  /** How often the journal's live file is rewritten as a checkpoint (default 30 s). */
  checkpointMs?: number;
  /** Archive segments of the file store: sealed at `segmentBytes` (default 64 MiB), the newest `keep` kept (default 0: all). */
  archive?: ArchiveOptions;
  /** PEM text, or a path to a PEM file; both or neither. */
  tlsCert?: string;
  tlsKey?: string;
  /**
   * Reverse proxies in front whose X-Forwarded-For is trusted (true: 1; false or 0: none). The
   * client is the address the outermost of them appended, never what the client wrote itself.
   */
  trustProxy?: boolean | number;
  /** Open connections at most (default 10,000; never past the open-file limit less what the store needs). */
  maxConnections?: number;
  /** Open connections per client (an IPv6 /64 is one client); default 256, 0 off. Not applied behind trustProxy: every connection is the proxy's. */
  maxConnectionsPerClient?: number;
  /** A request's headers (and a TLS handshake) must arrive within this; default 5 s. */
  headerTimeoutMs?: number;
  /** An upload that sends nothing for this long is answered 408 and closed; default 5 s. */
  bodyTimeoutMs?: number;
}

export interface RunningServer {
  url: string;
  token: string;
  receiver: Receiver;
  server: Server;
  close(): Promise<void>;
}

/**
 * The receiver as a standalone app (the CLI's `serve`). Mistakes in the configuration throw a
 * UsageError naming the flag before anything is opened; a start that fails later (the port is
 * taken) closes the store and removes the files it created.
 */
export async function startServer(config: ServerConfig): Promise<RunningServer> {
  if (config.store === 'postgres' && config.archive) throw new UsageError('csp-lens: --archive-segment-mb and --archive-keep are for the file store (PostgreSQL keeps evicted records in csp_lens_archive)');
  const tls = readTls(config.tlsCert, config.tlsKey);
  const hops = config.trustProxy === true ? 1 : Number(config.trustProxy || 0);
  const headerTimeoutMs = config.headerTimeoutMs ?? 5_000;
  const { maxRecords, mergeWindowMs, groupCapPerMinute, maxGroups, maxLiveBytes, severity } = config;
  const tuning: CoreOptions = { maxRecords, mergeWindowMs, groupCapPerMinute, maxGroups, maxLiveBytes, severity };
  const files: StartFiles | undefined = config.store === 'postgres' ? undefined : await prepareDb(config.db, config.stream);
  let store: Store;
  try {
    // Loaded only when asked for, so a file-store receiver never loads pg.
    store =
      config.store === 'postgres'
        ? await (await import('../store/postgres/index.js')).openPostgresStore({ connectionString: config.databaseUrl ?? '', ...tuning, connectTimeoutMs: config.pgConnectTimeoutMs, queryTimeoutMs: config.pgQueryTimeoutMs, transactions: config.pgTransactions })
        : await openFileStore({ path: files!.db, ...tuning, journal: config.journal === false ? false : { checkpointMs: config.checkpointMs }, archive: config.archive });
  } catch (e) {
    await files?.remove();
    throw storeError(e, config.db);
  }
  let outputs: Outputs | undefined;
  let server: Server | undefined;
  try {
    // Alerts and the JSON-lines stream hang off onStored (after a batch is durable).
    try {
      outputs = openOutputs({ ...config, history: store });
    } catch (e) {
      throw (e as Error).message.startsWith('csp-lens: --') ? new UsageError((e as Error).message) : e;
    }
    const { signals } = outputs;
    const receiver = createReceiver({
      ...config,
      store,
      onStored: outputs.onStored,
      // The alert rules' hits, for the dashboard's badges.
      extend: (router, ctx) => {
        mountSignals(router, signals, ctx.token);
        config.extend?.(router, ctx);
      },
    });
    // maxIpsCount: of X-Forwarded-For only the last `hops` entries, the ones our proxies appended.
    const app = new Koa({ proxy: hops > 0, maxIpsCount: hops });
    app.silent = true;
    app.on('error', (err: Error & { status?: number; code?: string }) => {
      // A client that hangs up mid-upload is its own problem, not the receiver's: no log line.
      if (err.code === 'ECONNRESET' || err.code === 'EPIPE' || err.code?.startsWith('HPE_')) return;
      if (!err.status || err.status >= 500) console.error('csp-lens:', err.message);
    });
    app.use(receiver.middleware());
    // Node checks these timeouts every connectionsCheckingInterval (30 s by default): a stalled
    // client was held 30-60 s; now within a second of its deadline.
    const options = {
      headersTimeout: headerTimeoutMs,
      requestTimeout: 30_000,
      keepAliveTimeout: 5_000,
      connectionsCheckingInterval: Math.min(1_000, headerTimeoutMs),
    };
    const s = tls ? createHttps({ ...tls, ...options, handshakeTimeout: headerTimeoutMs }, app.callback()) : createHttp(options, app.callback());
    server = s;
    answerClientErrors(s);
    const stopLimits = limitConnections(s, {
      max: connectionCap(config.maxConnections ?? 10_000),
      perClient: hops > 0 ? 0 : (config.maxConnectionsPerClient ?? 256),
      bodyTimeoutMs: config.bodyTimeoutMs ?? 5_000,
      ipv6Prefix: config.ipv6Prefix ?? 64,
    });
    s.once('close', stopLimits);
    const port = config.port ?? 8787;
    const host = config.host ?? '127.0.0.1';
    await new Promise<void>((resolve, reject) => {
      const failed = (e: Error) => reject(listenError(e as NodeJS.ErrnoException, port, host));
      s.once('error', failed);
      s.listen(port, host, () => {
        s.off('error', failed);
        resolve();
      });
    });
    // Once listening, a server error (EMFILE on accept) is logged: it must not end the process.
    s.on('error', (e: Error) => console.error(`csp-lens: ${e.message}`));
    const address = s.address() as AddressInfo;
    const urlHost = address.address.includes(':') ? `[${address.address}]` : address.address;
    let closing: Promise<void> | undefined;
    return {
      url: `${tls ? 'https' : 'http'}://${urlHost}:${address.port}${receiver.prefix}`,
      token: receiver.token,
      receiver,
      server: s,
      close: () =>
        (closing ??= (async () => {
          await new Promise<void>((resolve) => {
            s.close(() => resolve());
            s.closeIdleConnections();
            // In-flight requests get a moment to be acknowledged, then the sockets go.
            setTimeout(() => s.closeAllConnections(), 2_000).unref();
          });
          await outputs?.close();
          await store.close();
        })()),
    };
  } catch (e) {
    server?.close();
    await outputs?.close();
    await store.close();
    await files?.remove();
    throw e;
  }
}
