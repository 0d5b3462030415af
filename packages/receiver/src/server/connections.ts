import { readFileSync } from 'node:fs';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { clientKey } from '../http/ip.js';

export interface ConnectionLimits {
  /** Open connections at most, all clients together. */
  max: number;
  /** Open connections per client (clientKey of the peer address); 0: no per-client cap. */
  perClient: number;
  /** An upload that sends nothing for this long is answered 408 and its connection closed. */
  bodyTimeoutMs: number;
  ipv6Prefix: number;
  clock?: () => number;
}

/** File descriptors the store, its checkpoints and the journal keep for themselves. */
const FD_RESERVE = 256;

/** The soft limit on open files (Linux), or undefined where it cannot be read. */
export function openFileLimit(): number | undefined {
  try {
    const m = /^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** `max` connections, or fewer when the open-file limit would run out first (then checkpoints fail with EMFILE). */
export function connectionCap(max: number, fdLimit = openFileLimit()): number {
  return fdLimit ? Math.max(1, Math.min(max, fdLimit - FD_RESERVE)) : max;
}

const json = (res: ServerResponse, status: number, error: string): void => {
  if (res.headersSent || res.writableEnded) return;
  const body = JSON.stringify({ error });
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body), connection: 'close' });
  res.end(body);
};

/**
 * Keeps one client from holding what every client needs (measured before: 19,980 half-open
 * connections from one address took every file descriptor; 350 stalled uploads held 384 MiB for
 * 30-60 s each): a connection cap overall and per client, and uploads that stall cut within
 * `bodyTimeoutMs` (Node only checks its own request timeout every 30 s by default). Returns a stop.
 */
export function limitConnections(server: Server, limits: ConnectionLimits): () => void {
  const clock = limits.clock ?? Date.now;
  server.maxConnections = limits.max;
  const open = new Map<string, number>();
  if (limits.perClient > 0) {
    server.on('connection', (socket: Socket) => {
      const key = clientKey(socket.remoteAddress ?? '', limits.ipv6Prefix);
      const n = (open.get(key) ?? 0) + 1;
      if (n > limits.perClient) {
        socket.destroy();
        return;
      }
      open.set(key, n);
      socket.once('close', () => {
        const left = open.get(key)! - 1;
        if (left > 0) open.set(key, left);
        else open.delete(key);
      });
    });
  }

  // Progress is read off the socket's byte count: a 'data' listener here would take the body from
  // the reader it belongs to.
  const uploads = new Map<IncomingMessage, { res: ServerResponse; bytes: number; at: number }>();
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    if (!req.complete) uploads.set(req, { res, bytes: req.socket.bytesRead, at: clock() });
  });
  const sweep = setInterval(() => {
    const now = clock();
    for (const [req, seen] of uploads) {
      if (req.complete || req.destroyed || !req.socket || req.socket.destroyed) {
        uploads.delete(req);
      } else if (req.socket.bytesRead !== seen.bytes) {
        seen.bytes = req.socket.bytesRead;
        seen.at = now;
      } else if (now - seen.at >= limits.bodyTimeoutMs) {
        uploads.delete(req);
        // Answered with `connection: close`, so Node closes the socket once the answer is out; a
        // client that stopped reading too loses it a second later.
        const socket = req.socket;
        json(seen.res, 408, 'request body timed out: nothing arrived for too long');
        setTimeout(() => socket.destroy(), 1000).unref();
      }
    }
  }, Math.max(50, Math.min(1000, limits.bodyTimeoutMs / 4)));
  sweep.unref();
  return () => clearInterval(sweep);
}

/** Malformed or too slow requests that never reached the app: a JSON answer, then the socket goes. */
export function answerClientErrors(server: Server): void {
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    // Not into an answer already under way on this socket (as Node's own handler).
    const answering = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent;
    if (err.code === 'ECONNRESET' || !socket.writable || answering) {
      socket.destroy();
      return;
    }
    const [status, text, error] =
      err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'Request Timeout', 'request headers timed out']
        : err.code === 'HPE_HEADER_OVERFLOW'
          ? [431, 'Request Header Fields Too Large', 'request headers too large']
          : [400, 'Bad Request', 'malformed HTTP request'];
    const body = JSON.stringify({ error });
    socket.end(`HTTP/1.1 ${status} ${text}\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
    socket.destroySoon?.();
    setTimeout(() => socket.destroy(), 1000).unref();
  });
}
