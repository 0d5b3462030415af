// Plumbing of the demo: its certificate, listening, and the log of what reached the receivers.
import selfsigned from 'selfsigned';

/** A certificate for localhost and 127.0.0.1, made at start (nothing on disk, no network). */
export async function generateCert() {
  const pems = await selfsigned.generate([{ name: 'commonName', value: 'localhost' }], {
    keyType: 'ec',
    algorithm: 'sha256',
    notAfterDate: new Date(Date.now() + 7 * 24 * 3600 * 1000),
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: [{ type: 2, value: 'localhost' }, { type: 7, ip: '127.0.0.1' }] },
    ],
  });
  return { key: pems.private, cert: pems.cert };
}

export function listen(server, port, host) {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(server.address().port);
    });
  });
}

/** Logs what reaches a receiver (and keeps it for the tests: how many native vs SDK requests). */
export function requestLog(name, entries, quiet) {
  return async (ctx, next) => {
    await next();
    if (!ctx.path.startsWith('/csp/') || ctx.path.startsWith('/csp/api/') || ctx.path === '/csp/sdk.js') return;
    const entry = {
      receiver: name,
      at: Date.now(),
      method: ctx.method,
      path: ctx.path,
      status: ctx.status,
      type: ctx.get('content-type') || undefined,
      origin: ctx.get('origin') || undefined,
    };
    entries.push(entry);
    if (entries.length > 10_000) entries.shift();
    if (!quiet) console.log(`[${name}] ${entry.method} ${entry.path} ${entry.status} ${entry.type ?? ''}`);
  };
}
