// Differential check of the receiver's fast URL reading (url.ts `urlParts`, merge.ts's
// `blockedOrigin`/`isCutToOrigin`, classify.ts's origin comparison) against `new URL`, over
// generated URL-like strings heavy on the edge cases: case, ports, userinfo, IDN, IPv4 forms,
// whitespace, backslashes, percent-escapes. Exits 1 on the first difference.
//   node bench/check-urls.mjs [CASES=1000000]
import { loadSource } from './source.mjs';

const CASES = Number(process.argv[2] ?? 1_000_000);
const mod = await loadSource();
const { urlParts } = await mod('core/url.js');
// URL helpers moved from merge.js to url.js with issue 15: either layout.
const urlMod = await mod('core/url.js');
const { blockedOrigin, isCutToOrigin } = urlMod.blockedOrigin ? urlMod : await mod('core/merge.js');
const { webOrigin } = await mod('core/classify.js');
const WEB_SCHEME = { 'http:': 'http:', 'https:': 'https:', 'ws:': 'http:', 'wss:': 'https:' };
// classify.ts's comparison as it was, on new URL.
const refWeb = (url) => {
  if (url === undefined || !URL.canParse(url)) return undefined;
  const u = new URL(url);
  const scheme = WEB_SCHEME[u.protocol];
  return scheme && u.host ? `${scheme}//${u.host}` : undefined;
};

let seed = 42;
const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
const pick = (a) => a[Math.floor(rand() * a.length)];
const schemes = ['http', 'https', 'ws', 'wss', 'HTTP', 'Https', 'ftp', 'blob:https', 'blob:http', 'file', 'data', 'chrome-extension', 'about', 'javascript', 'foo', 'h\ttp', ' http', 'http '];
const seps = ['://', '://', '://', ':/', ':', ':\\\\', ':///', '://\\', '://\n', ':\t//', ':\n/', ':\\', ': //', ':?', ':#'];
const labels = ['a', 'example', 'cdn7', 'x-y', '-a', 'a-', 'ab--cd', 'xn--abc', 'xn--nxasmq6b', '0', '1', '09', '0x1f', '0X1F', '0x', '255', '256', '010', '127', 'A', 'Ex', 'a_b', 'é', 'ß', '%41', '%2e', '', 'a b', 'a\tb', '[::1]', '[::ffff:1.2.3.4]', 'user@a', 'u:p@a', '@'];
const ports = ['', '', '', ':80', ':443', ':8080', ':0', ':0080', ':65535', ':65536', ':99999', ':', ':x', ':1:2'];
const tails = ['', '/', '/p', '/p?q=1', '?q', '#f', '/a b', '/\\x', '\\', '/%zz', ' ', '\t', '/é', '?é#é', '/..', ' /x'];

const clean = ['a', 'example', 'cdn7', 'x-y', 'site12', '0', '1', '255', '127', 'a_b', 'com'];
// Half the strings are nearly plain (the fast path's territory, one odd part at most).
function gen() {
  const plain = rand() < 0.5;
  const n = 1 + Math.floor(rand() * 4);
  const host = Array.from({ length: n }, () => pick(plain && rand() < 0.9 ? clean : labels)).join(rand() < 0.05 ? '..' : '.') + (rand() < 0.05 ? '.' : '');
  const scheme = plain && rand() < 0.9 ? pick(['http', 'https', 'ws', 'wss']) : pick(schemes);
  const sep = plain && rand() < 0.9 ? '://' : pick(seps);
  return `${rand() < 0.03 ? pick([' ', '\t', '\u0000']) : ''}${scheme}${sep}${host}${pick(ports)}${pick(tails)}`;
}

// Or a plain one with a random character put in, replaced or removed somewhere.
const alphabet = [...'azAZ09-._~:/?#[]@!$&\'()*+,;=%\\ \t\n\r\u0000\u007f\u00e9\u00df\u0130\u3002\uff0e\u200b\ufffd'];
function mutate(s) {
  const i = Math.floor(rand() * (s.length + 1));
  const c = pick(alphabet);
  const k = rand();
  return k < 0.4 ? s.slice(0, i) + c + s.slice(i) : k < 0.8 ? s.slice(0, i) + c + s.slice(i + 1) : s.slice(0, i) + s.slice(i + 1);
}
const generate = () => (rand() < 0.7 ? gen() : mutate(mutate(`${pick(['http', 'https', 'ws', 'wss'])}://${pick(clean)}.${pick(clean)}${pick(ports)}${pick(tails)}`)));

function reference(s) {
  let u;
  try {
    u = new URL(s);
  } catch {
    return undefined;
  }
  return { protocol: u.protocol, host: u.host, hostname: u.hostname, origin: u.origin };
}
const refOrigin = (s) => {
  if (!s) return '';
  const u = reference(s);
  return u && u.origin !== 'null' ? u.origin : s.split(':')[0];
};
const refCut = (s) => {
  const u = reference(s);
  return !!u && u.origin !== 'null' && s.replace(/\/$/, '') === u.origin;
};

const fixed = ['https://a.example', 'https://a.example/', 'http://127.0.0.1:8080/x', 'inline', 'eval', 'data:image/png;base64,AA', 'blob:https://a.example/uuid', 'https://a.example:443', 'https://A.example/'];
let fast = 0;
for (let i = 0; i < CASES + fixed.length; i++) {
  const s = i < fixed.length ? fixed[i] : generate();
  const want = reference(s);
  const got = urlParts(s);
  if (JSON.stringify(got) !== JSON.stringify(want)) fail('urlParts', s, got, want);
  if (blockedOrigin(s) !== refOrigin(s)) fail('blockedOrigin', s, blockedOrigin(s), refOrigin(s));
  if (webOrigin(s) !== refWeb(s)) fail('webOrigin', s, webOrigin(s), refWeb(s));
  if (isCutToOrigin(s) !== refCut(s)) fail('isCutToOrigin', s, isCutToOrigin(s), refCut(s));
  if (want && /^(https?|wss?):\/\/[a-z0-9]/.test(s)) fast++;
}
console.log(`${CASES + fixed.length} strings: urlParts, blockedOrigin, isCutToOrigin and webOrigin agree with new URL (${fast} plain http(s)/ws(s) URLs among them)`);

function fail(what, s, got, want) {
  console.error(`${what}(${JSON.stringify(s)}): got ${JSON.stringify(got)}, new URL says ${JSON.stringify(want)}`);
  process.exit(1);
}
