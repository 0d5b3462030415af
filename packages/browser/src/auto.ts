import { init } from './index.js';

// Script-tag entry: `<script src="https://receiver/csp/sdk.js" async></script>` needs nothing
// else. currentScript is set while a classic script runs, async or not (null only for modules).
try {
  const script = document.currentScript as HTMLScriptElement;
  const d = script.dataset;
  // The receiver serves the SDK at {prefix}/sdk.js and takes batches at {prefix}/sdk.
  const src = new URL(script.src);
  init({
    endpoint: d.endpoint || (/\/sdk\.js$/.test(src.pathname) ? src.origin + src.pathname.slice(0, -3) : ''),
    release: d.release,
    env: d.env,
    tags: d.tags && JSON.parse(d.tags),
    // NaN when absent or garbage: init treats anything but a number below 1 as 1.
    sampleRate: +d.sampleRate!,
  });
} catch {
  // No currentScript (loaded in an unusual way) or bad data-tags JSON: never throw into the page.
}
