// The byte budget of the script-tag build (web-vitals and nanoid check theirs in CI too).
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import { expect, it } from 'vitest';
import { ROOT } from './helpers';

// 2.5 KB gzip (2560) was everything in issue 3, minified (2544 bytes). Issue 18's hash of blocked
// inline code (src/hash.ts and its call in element.ts) costs 154 more: 2698. Raised for it, on
// purpose and said so in that report; to keep 2560, the hash would have to go.
const BUDGET = 2700;

it(`keeps dist/sdk.js within ${BUDGET} bytes gzipped`, () => {
  const file = resolve(ROOT, 'packages/browser/dist/sdk.js');
  if (!existsSync(file)) throw new Error(`${file} is missing: run \`npm run build\` first`);
  const code = readFileSync(file);
  const gzip = gzipSync(code, { level: 9 }).length;
  console.log(`sdk.js: ${code.length} bytes raw, ${gzip} bytes gzip (budget ${BUDGET})`);
  expect(gzip, `sdk.js is ${gzip} bytes gzipped, over the ${BUDGET}-byte budget`).toBeLessThanOrEqual(BUDGET);
});
