import type { Server } from 'node:net';

/** A certificate for localhost and 127.0.0.1, made at start (PEM). */
export function generateCert(): Promise<{ key: string; cert: string }>;

/** Listens on `port` (0 = any free one) and `host`; resolves with the bound port. */
export function listen(server: Server, port: number, host: string): Promise<number>;

export function requestLog(name: string, entries: unknown[], quiet: boolean): (ctx: unknown, next: () => Promise<void>) => Promise<void>;
