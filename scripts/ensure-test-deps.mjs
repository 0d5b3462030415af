#!/usr/bin/env node
// Runs before `npm test`: the real-browser tests need Debian's chromium, the PostgreSQL store tests
// PostgreSQL's server binaries (they start a throwaway cluster of their own). Installs what is
// missing when we are root (CI, containers); otherwise says exactly what to run. Never downloads
// a browser of its own.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const run = (cmd, args) => execFileSync(cmd, args, { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
const root = process.getuid?.() === 0 && existsSync('/usr/bin/apt-get');

if (!existsSync('/usr/bin/chromium')) {
  if (!root) {
    console.error("csp-lens: the end-to-end tests need Debian's chromium:\n  sudo apt-get update && sudo apt-get install -y chromium");
    process.exit(1);
  }
  console.log('csp-lens: installing chromium for the end-to-end tests (apt-get)…');
  run('apt-get', ['update', '-qq']);
  run('apt-get', ['install', '-y', '-qq', 'chromium']);
}
// Installs postgresql without creating or starting the distribution's own cluster, or says how.
run('sh', [fileURLToPath(new URL('./postgres-ci.sh', import.meta.url))]);
