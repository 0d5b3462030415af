// Prints the inline loader snippet (minified packages/browser/src/loader.js) and the CSP hash
// that allows it: script-src 'sha256-…'. The hash covers the exact text between the tags.
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { minify } from 'terser';

const src = readFileSync(new URL('../packages/browser/src/loader.js', import.meta.url), 'utf8');
const { code } = await minify(src, { compress: { passes: 2 }, format: { comments: false } });
const hash = `sha256-${createHash('sha256').update(code, 'utf8').digest('base64')}`;
if (process.argv.includes('--json')) console.log(JSON.stringify({ code, hash }));
else console.log(`<script>${code}</script>\n\nscript-src '${hash}'`);
