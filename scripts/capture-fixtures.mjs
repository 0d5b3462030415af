// Captures the fixtures of test/fixtures from the browsers installed here (Debian's chromium,
// firefox-esr, webkit2gtk-driver + xvfb): the probe page (scripts/capture/page.mjs) is loaded under
// enforced and report-only policies with report-uri and report-to, same-site and cross-site, and
// every request is recorded as it arrived. See test/fixtures/README.md for what is written where.
//
//   npm run build && node scripts/capture-fixtures.mjs [--engine chromium|firefox|webkit|all] [--out test/fixtures]
//
// --port-base N (default 8811): the page, the cross-site receiver and the third party on N, N+1 and
// N+2, as in chromium-156. --idle-ms (default 3000): how long no new report means "all arrived".
//
//   node scripts/capture-fixtures.mjs --demo [--engine …] [--out dir]
//
// runs the demo instead (every page, every trigger) and writes <engine>-<major>/demo/: each page's
// requests to the receivers byte for byte, the records stored, and analysis.json (scripts/capture/
// analyze.mjs) from which test/fixtures/ENGINES.md is written:
//
//   node scripts/capture-fixtures.mjs --engines-md test/fixtures/ENGINES.md --out <that dir>
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ENGINES, launch } from './capture/engines.mjs';
import { lines, writeFixtures } from './capture/fixtures.mjs';
import { surveyDemo } from './capture/demo.mjs';
import { analyzeVisit } from './capture/analyze.mjs';
import { writeEnginesMd } from './capture/engines-md.mjs';
import { loadProbe } from './capture/load.mjs';
import { probePage } from './capture/page.mjs';
import { NONCE, startServers } from './capture/servers.mjs';
import { SCENARIOS, runId } from './capture/scenarios.mjs';

const SDK = fileURLToPath(new URL('../packages/browser/dist/sdk.js', import.meta.url));

function parseArgs(argv) {
  const o = { engine: 'all', out: 'test/fixtures', portBase: 8811, idleMs: 3000, only: undefined };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`csp-lens: ${a} needs a value`);
      return v;
    };
    if (a === '--engine') o.engine = value();
    else if (a === '--out') o.out = value();
    else if (a === '--port-base') o.portBase = Number(value());
    else if (a === '--idle-ms') o.idleMs = Number(value());
    else if (a === '--only') o.only = value().split(',');
    else if (a === '--demo') o.demo = true;
    else if (a === '--engines-md') o.enginesMd = value();
    else if (a === '--help' || a === '-h') o.help = true;
    else throw new Error(`csp-lens: unknown argument ${a} (see --help)`);
  }
  if (o.engine !== 'all' && !ENGINES.includes(o.engine)) throw new Error(`csp-lens: --engine must be one of ${ENGINES.join(', ')} or all`);
  if (!Number.isInteger(o.portBase) || o.portBase < 0 || o.portBase > 65533) throw new Error('csp-lens: --port-base must be a port');
  return o;
}

async function captureEngine(name, servers, o) {
  const engine = await launch(name);
  const loads = {};
  try {
    console.log(`${name} ${engine.version}`);
    for (const s of SCENARIOS) {
      if (o.only && !o.only.includes(s.name)) continue;
      const scenario = { ...s, run: runId(s.name) };
      const load = await loadProbe(engine, servers, scenario, { idleMs: o.idleMs, maxMs: 60_000 });
      loads[s.name] = { scenario, ...load };
      const posts = load.wire.filter((w) => w.url.startsWith('/r/')).length;
      console.log(`  ${s.name}: ${load.seen.events.length} events, ${posts} requests to the receivers`);
    }
  } finally {
    await engine.close();
  }
  const a = loads.a_uri?.scenario.run ?? 'a_uri';
  const page = probePage({ run: a, nonce: NONCE, receiver: servers.origin.receiver, thirdParty: servers.origin.third, thirdPartyLocalhost: servers.origin.thirdLocalhost });
  const dir = writeFixtures(o.out, engine, loads, page);
  console.log(`  wrote ${dir}`);
}

async function surveyEngine(name, o) {
  console.log(`${name}: the demo`);
  const survey = await surveyDemo(name, { idleMs: o.idleMs, pages: o.only });
  const dir = join(o.out, `${name}-${majorOf(name, survey.version)}`, 'demo');
  mkdirSync(dir, { recursive: true });
  const analysis = { engine: survey.engine, version: survey.version, userAgent: survey.userAgent, pages: {} };
  for (const [page, visit] of Object.entries(survey.pages)) {
    // The records as this receiver stores them today, cut to what tells how it merged.
    const KEEP = ['documentURL', 'effectiveDirective', 'blockedURL', 'sourceFile', 'lineNumber', 'columnNumber', 'sample', 'disposition', 'count', 'sources', 'firstReceivedAt'];
    const records = visit.records.map((r) => Object.fromEntries(KEEP.filter((k) => r[k] !== undefined).map((k) => [k, r[k]])));
    writeFileSync(join(dir, `${page}.json`), lines({ ...visit, records }));
    analysis.pages[page] = analyzeVisit(visit);
  }
  writeFileSync(join(dir, 'analysis.json'), JSON.stringify(analysis, null, 2));
  console.log(`  wrote ${dir}`);
}

const majorOf = (name, version) => version.split('.').slice(0, name === 'webkit' ? 2 : 1).join('.');

async function main() {
  const o = parseArgs(process.argv.slice(2));
  if (o.help) {
    console.log('node scripts/capture-fixtures.mjs [--engine chromium|firefox|webkit|all] [--out test/fixtures] [--port-base 8811] [--idle-ms 3000] [--only a_uri,b_to,…]');
    console.log('node scripts/capture-fixtures.mjs --demo [--engine …] [--out dir] [--only report-uri,meta,…]');
    console.log('node scripts/capture-fixtures.mjs --engines-md test/fixtures/ENGINES.md --out <a capture dir with counts.json and demo/analysis.json>');
    return;
  }
  if (o.enginesMd) {
    writeEnginesMd(o.enginesMd, o.out);
    console.log(`wrote ${o.enginesMd} from ${o.out}`);
    return;
  }
  if (!existsSync(SDK)) throw new Error('csp-lens: packages/browser/dist/sdk.js is missing: run npm run build first');
  if (o.demo) {
    for (const name of o.engine === 'all' ? ENGINES : [o.engine]) await surveyEngine(name, o);
    return;
  }
  const p = o.portBase;
  const servers = await startServers({ ports: { page: p, receiver: p && p + 1, third: p && p + 2 } });
  try {
    for (const name of o.engine === 'all' ? ENGINES : [o.engine]) await captureEngine(name, servers, o);
  } finally {
    await servers.close();
  }
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
