// One page load of the probe in one engine: what the page saw and what reached the servers.

/** This run's requests: its page, its reports (the run id is in every endpoint URL) and its subresources. */
const ofRun = (wire, from, run) => wire.slice(from).filter((w) => w.url.includes(`run=${run}`) || !w.url.startsWith('/r/'));

/**
 * Waits until `idleMs` passed without a new report of this run (counting from `since` at the
 * earliest), at most `maxMs`: how long to wait for stragglers is the one guess in a capture.
 */
export async function settle(servers, from, run, { idleMs, maxMs, since = Date.now() }) {
  const end = Date.now() + maxMs;
  for (;;) {
    const reports = ofRun(servers.wire, from, run).filter((w) => w.url.startsWith('/r/'));
    const last = Math.max(since, reports.length ? reports[reports.length - 1].at : 0);
    const wait = Math.min(end, last + idleMs) - Date.now();
    if (wait <= 0) return;
    await servers.waitFor(() => false, wait);
  }
}

/**
 * Loads the probe for `scenario` ({ run, mode, rep, cross, sdk, probeSend }) through /start (so
 * that the referrer is a same-origin full URL), waits for the reports to settle, reads what the page
 * recorded, closes the page (pagehide), waits for what the close sends, and returns
 * { seen, wire, t0, closedAt }.
 */
export async function loadProbe(engine, servers, scenario, timing) {
  servers.scenarios.set(scenario.run, scenario);
  servers.current = scenario.run;
  const from = servers.wire.length;
  const t0 = Date.now();
  const page = await engine.open(`${servers.origin.page}/start?from=probe`);
  let seen;
  try {
    await page.waitFor(() => location.pathname === '/p' && document.readyState === 'complete' && !!window.__probe, { timeoutMs: 30_000 });
    await settle(servers, from, scenario.run, timing);
    if (scenario.probeSend) {
      await page.evaluate(() => window.__probeSend().then(() => true));
      await settle(servers, from, scenario.run, { ...timing, maxMs: timing.idleMs * 2 });
    }
    // As a string: WebDriver (WebKit) returns objects with their keys in another order.
    seen = JSON.parse(
      await page.evaluate(() =>
        JSON.stringify({
          url: location.href,
          userAgent: navigator.userAgent,
          timeOrigin: performance.timeOrigin,
          events: window.__probe.events,
          robs: window.__probe.robs,
          winCapture: window.__probe.winCapture,
          notes: window.__notes ?? {},
        }),
      ),
    );
  } finally {
    await page.close();
  }
  const closedAt = Date.now();
  // Reports queued at pagehide (report-to batches, beacons) still arrive after the close.
  await settle(servers, from, scenario.run, { idleMs: timing.idleMs, maxMs: timing.idleMs * 3, since: closedAt });
  return { seen, wire: ofRun(servers.wire, from, scenario.run), t0, closedAt };
}
