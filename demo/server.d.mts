export interface DemoOptions {
  host?: string;
  /** 0 or absent = any free port. */
  httpPort?: number;
  httpsPort?: number;
  thirdPartyPort?: number;
  remotePort?: number;
  /** The main receiver's store (JSON file); default in the OS temp dir. */
  dbPath?: string;
  /** The cross-origin receiver's store; default `dbPath` with `.remote.json`. */
  remoteDbPath?: string;
  token?: string;
  quiet?: boolean;
}

/** One request that reached a receiver's ingest routes. */
export interface DemoLogEntry {
  receiver: 'main' | 'remote';
  at: number;
  method: string;
  path: string;
  status: number;
  type?: string;
  origin?: string;
}

export interface Demo {
  urls: {
    index: string;
    'report-uri': string;
    'report-to': string;
    'report-only': string;
    meta: string;
    'cross-origin': string;
    dashboard: string;
    api: string;
    http: string;
    https: string;
    thirdParty: string;
    remote: string;
    remoteApi: string;
  };
  ports: { http: number; https: number; thirdParty: number; remote: number };
  token: string;
  /** The generated certificate (PEM), to trust it from Node. */
  cert: string;
  log: DemoLogEntry[];
  dbPath: string;
  remoteDbPath: string;
  close(): Promise<void>;
}

export function startDemo(options?: DemoOptions): Promise<Demo>;
