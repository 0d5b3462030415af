import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { type Socket, connect as tcpConnect, isIP, isIPv6 } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { DeliveryError, type Target } from './alert-send.js';

// Getting syslog messages to a collector: UDP (RFC 5426, one message per datagram), TCP (RFC 6587)
// or TLS (RFC 5425), both with octet-counting framing (`<length> <message>`), which no message
// content can break. One connection, opened on the first message and again after it fails; the
// sender's retries (alert-send.ts) are the reconnect backoff. TCP acknowledges nothing: what was
// written into a connection the collector has already dropped is lost, as with any syslog sender.

export interface SyslogTransportOptions {
  /** A PEM CA to trust for a tls:// collector's certificate (a private CA); the system's otherwise. */
  ca?: string;
  /** Connecting (and the TLS handshake) must take no longer. Default 10 s. */
  timeoutMs?: number;
}

/** A datagram past this is not sent (most collectors take 8 KiB; IPv4 UDP at most 65,507 bytes). */
export const UDP_MAX = 8192;

export function syslogTarget(url: URL, o: SyslogTransportOptions = {}): Target<string> & { close(): void } {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const port = Number(url.port);
  const name = `syslog ${url.protocol}//${url.host}`;
  const timeoutMs = o.timeoutMs ?? 10_000;

  if (url.protocol === 'udp:') {
    let socket: UdpSocket | undefined;
    return {
      name,
      async deliver(message) {
        const buf = Buffer.from(message, 'utf8');
        if (buf.length > UDP_MAX) throw new DeliveryError(`message of ${buf.length} bytes is over ${UDP_MAX} for UDP`, false);
        if (!socket) {
          const s = createSocket(isIPv6(host) ? 'udp6' : 'udp4');
          // An ICMP "port unreachable" arrives as an error on the socket: the next send opens a new one.
          s.on('error', () => {
            if (socket === s) socket = undefined;
            s.close();
          });
          s.unref();
          socket = s;
        }
        const s = socket;
        await new Promise<void>((resolve, reject) => s.send(buf, port, host, (e) => (e ? reject(e) : resolve())));
      },
      close() {
        socket?.close();
        socket = undefined;
      },
    };
  }

  let socket: Socket | undefined;
  let opening: Promise<Socket> | undefined;
  const open = () =>
    (opening ??= new Promise<Socket>((resolve, reject) => {
      const tls = url.protocol === 'tls:';
      const s = tls
        ? tlsConnect({ host, port, ...(o.ca ? { ca: o.ca } : {}), ...(isIP(host) ? {} : { servername: host }) })
        : tcpConnect({ host, port });
      const timer = setTimeout(() => s.destroy(new Error(`no connection within ${timeoutMs} ms`)), timeoutMs);
      const failed = (e: Error) => {
        clearTimeout(timer);
        opening = undefined;
        reject(e);
      };
      s.once('error', failed);
      s.once(tls ? 'secureConnect' : 'connect', () => {
        clearTimeout(timer);
        s.off('error', failed);
        s.setNoDelay(true);
        s.setKeepAlive(true, 30_000);
        // Whatever ends it, the next message opens a new one.
        const gone = () => {
          if (socket === s) socket = undefined;
        };
        s.on('error', gone);
        s.on('close', gone);
        s.on('end', gone);
        s.resume(); // a collector sends nothing; never let a stray byte fill a buffer
        s.unref();
        socket = s;
        opening = undefined;
        resolve(s);
      });
    }));

  return {
    name,
    async deliver(message) {
      const s = socket && socket.writable ? socket : await open();
      // RFC 6587 §3.4.1 octet counting: MSG-LEN is the message's length in bytes.
      const frame = `${Buffer.byteLength(message, 'utf8')} ${message}`;
      await new Promise<void>((resolve, reject) => {
        s.write(frame, (e) => {
          if (!e) return resolve();
          s.destroy();
          reject(e);
        });
      });
    },
    close() {
      socket?.destroy();
      socket = undefined;
    },
  };
}
