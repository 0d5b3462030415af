#!/usr/bin/env node
// Runs before `npm test`: the real-browser tests need Debian's chromium, the PostgreSQL store tests
// a PostgreSQL server binary. Installs them when missing and we are root (CI, containers); otherwise
// says exactly what to run. Never downloads a browser of its own.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';

const pgBin = () => {
  try {
    return readdirSync('/usr/lib/postgresql').some((v) => existsSync(`/usr/lib/postgresql/${v}/bin/initdb`));
  } catch {
    return false;
  }
};
const missing = [];
if (!existsSync('/usr/bin/chromium')) missing.push('chromium');
if (!pgBin()) missing.push('postgresql');
if (!missing.length) process.exit(0);

const isRoot = process.getuid?.() === 0;
if (!isRoot || !existsSync('/usr/bin/apt-get')) {
  console.error(`csp-lens: the tests need Debian's ${missing.join(' and ')}. Install with:\n  sudo apt-get update && sudo apt-get install -y ${missing.join(' ')}`);
  process.exit(1);
}
console.log(`csp-lens: installing ${missing.join(', ')} for the tests (apt-get)…`);
const run = (args) => execFileSync('apt-get', args, { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
run(['update', '-qq']);
run(['install', '-y', '-qq', ...missing]);
