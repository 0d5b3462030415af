import { init } from './index.js';

// Script-tag entry: `<script src="https://receiver/csp/sdk.js" async></script>` needs nothing
// else. currentScript is set while a classic script runs, async or not (null only for modules).
try {
  const script = document.currentScript as HTMLScriptElement;
  const d = script.dataset;
  const num = (s?: string) => (s ? +s : undefined);
  // The receiver serves the SDK at {prefix}/sdk.js and takes batches at {prefix}/sdk.
  const src = new URL(script.src);
  init({
    endpoint: d.endpoint || (/\/sdk\.js$/.test(src.pathname) ? src.origin + src.pathname.slice(0, -3) : ''),
    release: d.release,
    env: d.env,
    tags: d.tags ? JSON.parse(d.tags) : undefined,
    sampleRate: num(d.sampleRate),
    maxEvents: num(d.maxEvents),
    delay: num(d.delay),
  });
} catch {
  // No currentScript (loaded in an unusual way) or bad data-tags JSON: never throw into the page.
}
