// The only stage that touches the network. A batch goes as a string: both sendBeacon and fetch
// send it as `text/plain;charset=UTF-8`, a CORS-safelisted type, so there is no preflight and it
// reaches a cross-site receiver. A Blob of application/json would need a credentialed preflight
// and is otherwise silently never sent, while sendBeacon still returns true (DESIGN §2).
export function send(url: string, body: string): void {
  try {
    // false = not queued (over the 64 KiB in-flight budget, or too large): try fetch instead.
    if (navigator.sendBeacon(url, body)) return;
  } catch {
    // sendBeacon missing or throwing (illegal URL, odd polyfills): fall through.
  }
  try {
    // keepalive lets the request outlive the page, like a beacon. The default 'cors' mode is
    // fine: a text/plain POST is a simple request, sent without preflight, and we never read the
    // response ('no-cors' would only hide an error the receiver's CORS headers avoid anyway).
    fetch(url, { method: 'POST', body, keepalive: true }).catch(() => {});
  } catch {
    // No fetch, or keepalive refused synchronously: the batch is lost, the page is not.
  }
}
