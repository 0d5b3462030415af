// How many groups one tree's core makes of (a) the growth benchmark's bodies and (b) every wire
// capture of the demo pages (test/fixtures/<engine>/wire): to compare grouping rules (issue 16).
//   node bench/groups.mjs [OTHER_CHECKOUT] [REQUESTS=100000]    (no checkout: this tree)
import { readFileSync, readdirSync } from 'node:fs';
import { createGenerator } from './bodies.mjs';
import { loadSource } from './source.mjs';
import { ROOT } from './lib.mjs';
const root = process.argv[2] || undefined;
const N = Number(process.argv[3] ?? 100000);
const mod = await loadSource(root);
const { parseBody } = await mod('core/parse.js');
const { normalizeNative, normalizeSdk } = await mod('core/normalize.js');
const { createNoiseFilter } = await mod('core/filter.js');
const { createState, emptyData } = await mod('core/state.js');
function run(reqs) {
  const filter = createNoiseFilter();
  const state = createState(emptyData(), { maxRecords: 10_000, mergeWindowMs: 10_000, groupCapPerMinute: 100000, maxGroups: 1e9 });
  let filtered = 0, stored = 0, invalid = 0;
  for (const r of reqs) {
    let body; try { body = parseBody(r.body, r.type); } catch { invalid++; continue; }
    let batch; try { batch = r.sdk ? normalizeSdk(body, r.meta) : normalizeNative(body, r.meta); } catch { invalid++; continue; }
    const before = batch.violations.length;
    batch.violations = batch.violations.filter((v) => !filter(v));
    filtered += before - batch.violations.length; stored += batch.violations.length;
    state.ingest(batch, {});
  }
  return { groups: Object.keys(state.data.groups).length, stored, filtered, invalid };
}
const g = createGenerator({ docs: 5000, runId: 'grp-' });
const t0 = 1_700_000_000_000;
const growth = Array.from({ length: N }, (_, i) => { const m = g.mixed(i); return { body: m.body, type: m.type, sdk: m.path.endsWith('/sdk'), meta: { receivedAt: t0 + i * 10, userAgent: 'Mozilla/5.0 Chrome/156.0.0.0', clientIp: `10.0.${(i >> 8) & 255}.${i & 255}` } }; });
console.log(JSON.stringify({ tree: root ?? 'this tree', growth: run(growth) }));
const header = (raw, name) => { for (let i = 0; i < raw.length; i += 2) if (raw[i].toLowerCase() === name) return raw[i + 1]; };
for (const engine of ['firefox-153', 'webkit-2.50']) {
  const dir = `${ROOT}/test/fixtures/${engine}/wire`;
  const files = readdirSync(dir);
  const reqs = [];
  for (const f of files.filter((f) => f.endsWith('.json'))) {
    const w = JSON.parse(readFileSync(`${dir}/${f}`, 'utf8'));
    for (const r of w.requests ?? []) {
      if (r.method !== 'POST') continue;
      const stream = r.url.startsWith('/r/uri') ? 'u' : r.url.startsWith('/r/to') ? 't' : r.url.includes('via=sdk') ? 's' : undefined;
      if (!stream) continue;
      reqs.push({ body: r.body, type: header(r.rawHeaders, 'content-type') ?? '', sdk: stream === 's', meta: { receivedAt: 1_800_000_000_000 + r.at, userAgent: header(r.rawHeaders, 'user-agent') } });
    }
  }
  console.log(JSON.stringify({ engine, ...run(reqs) }));
}
