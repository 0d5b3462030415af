// The only stage that touches the network. A batch goes as a string: both sendBeacon and fetch
// send it as `text/plain;charset=UTF-8`, a CORS-safelisted type, so there is no preflight and it
// reaches a cross-site receiver. A Blob of application/json would need a credentialed preflight
// and is otherwise silently never sent, while sendBeacon still returns true (DESIGN §2).
export function send(url: string, body: string, leaving?: boolean): void {
  try {
    // false = not queued (over the 64 KiB in-flight budget, or too large): try fetch instead.
    if (navigator.sendBeacon(url, body)) return;
  } catch {
    // sendBeacon missing or throwing (illegal URL, odd polyfills): fall through.
  }
  try {
    // A keepalive fetch shares the beacon's 64 KiB budget (with the browser's own report-uri
    // reports): when the beacon was refused for it, so is this. A page that stays can wait for a
    // plain fetch, which has no such budget; only a page going away needs keepalive (measured in
    // Chromium: a burst of 150 violations delivered 12 events before, 100 (the cap) after).
    // The default 'cors' mode is fine: a text/plain POST is a simple request, sent without
    // preflight, and we never read the response. There is one try per batch (no retry on
    // rejection): a rejected fetch may still have been delivered, and counts would add up twice.
    fetch(url, { method: 'POST', body, keepalive: leaving }).catch(() => {});
  } catch {
    // No fetch, or keepalive refused synchronously: the batch is lost, the page is not.
  }
}
