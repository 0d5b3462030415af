// The real browsers of the end-to-end tests, one interface for the three engines. The launchers live
// in scripts/capture/engines.mjs, shared with the fixture capture (scripts/capture-fixtures.mjs):
// Debian's chromium through playwright-core, firefox-esr through puppeteer-core over WebDriver BiDi,
// WebKitGTK's MiniBrowser through selenium-webdriver and WebKitWebDriver on an Xvfb of its own.
// None is ever downloaded; a missing one fails with the apt-get line to run.
//
//   for (const launch of [launchChromium, launchFirefox, launchWebKit]) {
//     const engine = await launch();
//     try {
//       const page = await engine.open(url);
//       await page.waitFor(() => (window as any).__demoReady === true);
//       await page.evaluate(() => setTimeout(() => (window as any).trigger('img'), 0)); // page code, not the driver's
//       await page.close(); // pagehide: the SDK flushes
//     } finally {
//       await engine.close(); // browser, driver, Xvfb, profile: gone even after a failure
//     }
//   }
export {
  CHROMIUM,
  FIREFOX,
  WEBKIT_DRIVER,
  ENGINES,
  launch,
  launchChromium,
  launchFirefox,
  launchWebKit,
  type ChromiumEngine,
  type Engine,
  type EngineName,
  type EnginePage,
  type FirefoxEngine,
  type WebKitEngine,
} from '../../scripts/capture/engines.mjs';

/** Chromium with its playwright context (`context.newPage()`), as the Chromium-only tests use it. */
export type { ChromiumEngine as Browser } from '../../scripts/capture/engines.mjs';
