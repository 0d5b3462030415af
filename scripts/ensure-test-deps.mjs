#!/usr/bin/env node
// Runs before `npm test`: the real-browser tests need Debian's browsers, the PostgreSQL store tests
// PostgreSQL's server binaries (they start a throwaway cluster of their own). Installs what is
// missing when we are root (CI, containers); otherwise says exactly what to run. Never downloads
// a browser of its own.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const run = (cmd, args) => execFileSync(cmd, args, { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
const root = process.getuid?.() === 0 && existsSync('/usr/bin/apt-get');

// The browsers of the end-to-end tests (test/e2e/browser.ts): Chromium, Firefox ESR, and WebKitGTK's
// driver and MiniBrowser, which draw into an Xvfb display.
const BROWSERS = {
  chromium: '/usr/bin/chromium',
  'firefox-esr': '/usr/bin/firefox-esr',
  'webkit2gtk-driver': '/usr/bin/WebKitWebDriver',
  xvfb: '/usr/bin/Xvfb',
};
const missing = Object.keys(BROWSERS).filter((pkg) => !existsSync(BROWSERS[pkg]));
if (missing.length) {
  if (!root) {
    console.error(`csp-lens: the end-to-end tests need Debian's ${missing.join(', ')}:\n  sudo apt-get update && sudo apt-get install -y ${missing.join(' ')}`);
    process.exit(1);
  }
  console.log(`csp-lens: installing ${missing.join(', ')} for the end-to-end tests (apt-get)…`);
  run('apt-get', ['update', '-qq']);
  run('apt-get', ['install', '-y', '-qq', ...missing]);
}
// Installs postgresql without creating or starting the distribution's own cluster, or says how.
run('sh', [fileURLToPath(new URL('./postgres-ci.sh', import.meta.url))]);
