// Writes the measured part of test/fixtures/ENGINES.md from a capture folder: each engine's
// counts.json (the probe page) and demo/analysis.json (the demo). The text above the marker line is
// written by hand and kept as it is.
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TYPES } from './classify.mjs';

export const MARKER = '<!-- Everything below is generated: node scripts/capture-fixtures.mjs --engines-md test/fixtures/ENGINES.md --out <capture dir> -->';
const STREAMS = { reportUri: 'report-uri', reportTo: 'report-to' };
const ORDER = ['chromium', 'firefox', 'webkit'];

const cell = (s) => String(s).replace(/\|/g, '\\|').replace(/\n/g, '\\n');
const table = (head, rows) => [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.map(cell).join(' | ')} |`)].join('\n');
const read = (f) => (existsSync(f) ? JSON.parse(readFileSync(f, 'utf8')) : undefined);

function loadEngines(dir) {
  return readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => ({ folder: d.name, counts: read(join(dir, d.name, 'counts.json')), analysis: read(join(dir, d.name, 'demo', 'analysis.json')) }))
    .filter((e) => e.counts || e.analysis)
    .sort((a, b) => ORDER.indexOf(a.folder.split('-')[0]) - ORDER.indexOf(b.folder.split('-')[0]));
}

/** Probe page: events / native reports per type, per load. */
function probeSection(engines) {
  const loads = [
    ['a_uri', 'reportUri', 'enforce, report-uri'],
    ['b_to', 'reportTo', 'enforce, report-to'],
    ['d_ro_uri', 'reportUri', 'report-only, report-uri'],
    ['d_ro_to', 'reportTo', 'report-only, report-to'],
  ];
  const out = ['## The probe page: native reports per violation', ''];
  out.push(
    'Each cell: `events / native reports` of that type in one load of `page.html` (`counts.json` of each folder; `-` = none of either). ' +
      'Types hold several violations where the page has several (`img`: two `<img>` with one URL; `eval-loop`: three samples; `eval-repeat`: the same `eval(\'2 + 2\')` three times).',
    '',
  );
  const withCounts = engines.filter((e) => e.counts);
  const head = ['type'];
  for (const e of withCounts) for (const [, , label] of loads) head.push(`${e.folder}<br>${label}`);
  const rows = TYPES.map((t) => {
    const r = [t];
    for (const e of withCounts) {
      for (const [load, stream] of loads) {
        const c = e.counts.loads[load]?.types[t];
        r.push(c ? `${c.events} / ${c[stream]}` : '-');
      }
    }
    return r;
  });
  out.push(table(head, rows), '');
  out.push('A policy with both `report-uri` and `report-to` (load `c_both`): what each engine sent.', '');
  out.push(
    table(
      ['engine', 'requests to the receivers'],
      withCounts.map((e) => [e.folder, Object.entries(e.counts.loads.c_both?.posts ?? {}).map(([k, v]) => `${k}: ${v}`).join(', ')]),
    ),
    '',
  );
  out.push('Delay from the event (page clock) to the arrival of its report (server clock), ms, min–max over every report of the load:', '');
  const delay = (load, stream) => {
    const all = Object.values(load?.types ?? {}).flatMap((t) => t.delayMs?.[stream] ?? []);
    return all.length ? `${Math.min(...all)}–${Math.max(...all)}` : '-';
  };
  const age = (load) => {
    const all = Object.values(load?.types ?? {}).flatMap((t) => t.ageMs ?? []);
    return all.length ? `${Math.min(...all)}–${Math.max(...all)}` : 'none sent';
  };
  out.push(
    table(
      ['engine', 'report-uri', 'report-to', 'report-to `age`', 'cross-site report-to', 'report-to POSTs (same-site)'],
      withCounts.map((e) => [
        e.folder,
        delay(e.counts.loads.a_uri, 'reportUri'),
        delay(e.counts.loads.b_to, 'reportTo'),
        age(e.counts.loads.b_to),
        delay(e.counts.loads.e_cross_star, 'reportTo'),
        e.counts.loads.b_to?.posts['POST /r/to'] ?? 0,
      ]),
    ),
    '',
  );
  return out;
}

function storedSection(engines) {
  const out = ['## The demo: what the receiver stored', ''];
  out.push(
    'Every demo page opened once, every trigger fired once from page code, the page closed; then the records of that page view were read from the read API. ' +
      '"distinct" = distinct violations the SDK reported (its events, deduplicated across batches) + the frame-ancestors report; "extra" = records − distinct (each one a violation stored twice).',
    '',
  );
  const rows = [];
  for (const e of engines.filter((x) => x.analysis)) {
    for (const [page, a] of Object.entries(e.analysis.pages)) {
      const s = a.stored;
      rows.push([e.folder, page, s.distinctViolations, s.records, s.merged, s.sdkOnly, s.nativeOnly, s.frameAncestors, s.extra, Object.entries(a.posts).map(([k, v]) => `${k} ×${v}`).join('<br>'), Object.entries(a.reportsPerPost).map(([k, v]) => `${STREAMS[k]}: ${v.join(', ')}`).join('<br>')]);
    }
  }
  out.push(table(['engine', 'page', 'distinct', 'records', 'merged', 'SDK only', 'native only', 'frame-ancestors', 'extra', 'requests', 'reports per POST'], rows), '');
  return out;
}

/** A value's class in the summary: any line above 1 is "a line", any sample "a sample". */
function valueClass(field, shown) {
  if (/^\d+$/.test(shown) && Number(shown) > 1) return field === 'lineNumber' ? 'a line' : 'a column';
  if (field === 'sample' && !['""', 'null', '(missing)'].includes(shown) && !shown.startsWith('cut to')) return 'a sample';
  return shown;
}

/** Per engine and stream: every field difference seen between an SDK event and its native report. */
function diffSection(engines) {
  const out = ['## Field by field: the SDK event against the native report of the same violation', ''];
  out.push(
    'From the raw bodies (before the receiver normalizes them). `(missing)` = key absent, `""` = empty string, DOC = the page URL with its query. ' +
      'Pairs are made by scripts/capture/analyze.mjs: same directive, blocked URL equal or cut to its origin, samples one a prefix of the other, no two different positive lines or source files. ' +
      'Fields not listed were equal in every pair. `referrer` is left out (not a key field; Firefox report-to sends `null` for "").',
    '',
  );
  for (const e of engines.filter((x) => x.analysis)) {
    const agg = new Map();
    let pairs = 0;
    for (const [page, a] of Object.entries(e.analysis.pages)) {
      for (const row of a.rows) {
        for (const [stream, s] of Object.entries(row.streams)) {
          pairs++;
          for (const d of s.diffs) {
            const key = `${STREAMS[stream]}\u0000${d.field}\u0000${valueClass(d.field, d.sdk)}\u0000${valueClass(d.field, d.native)}`;
            const v = agg.get(key) ?? { n: 0, kinds: new Set(), pages: new Set() };
            v.n++;
            v.kinds.add(row.kind);
            v.pages.add(page);
            agg.set(key, v);
          }
        }
      }
    }
    out.push(`### ${e.folder} (${pairs} event–report pairs)`, '');
    const rowsOf = (m) =>
      [...m.entries()].sort().map(([k, v]) => {
        const [stream, field, sdk, native] = k.split('\u0000');
        return [stream, field, sdk, native, v.n, [...v.kinds].join(', '), [...v.pages].join(', ')];
      });
    const head = ['stream', 'field', 'SDK event', 'native report', 'pairs', 'kinds', 'pages'];
    out.push('As sent:', '', agg.size ? table(head, rowsOf(agg)) : 'No field differed.', '');
    const blocked = new Map();
    for (const [page, a] of Object.entries(e.analysis.pages)) {
      for (const row of a.rows) {
        for (const [stream, s] of Object.entries(row.streams)) {
          for (const d of s.blockers ?? []) {
            const key = `${STREAMS[stream]}\u0000${d.field}\u0000${valueClass(d.field, d.sdk)}\u0000${valueClass(d.field, d.native)}`;
            const v = blocked.get(key) ?? { n: 0, kinds: new Set(), pages: new Set() };
            v.n++;
            v.kinds.add(row.kind);
            v.pages.add(page);
            blocked.set(key, v);
          }
        }
      }
    }
    out.push(
      'After the receiver\'s normalization (absent = `""`, `null`, missing, or a position below 1; a missing disposition reads `enforce`): the key fields that still differ, i.e. what keeps the two apart today:',
      '',
      blocked.size ? table(head, rowsOf(blocked)) : 'None: every pair agrees on every key field.',
      '',
    );
  }
  return out;
}

function detailSection(engines) {
  const out = ['## Per page, per violation', ''];
  out.push(
    'One row per SDK event (`n` = its count: the SDK counts repeats of one violation in one event). For each native stream: reports paired with it, fields that differ (SDK → native), ' +
      'delay from the event to each report\'s arrival in ms (report-to: and its `age`). "unpaired" = native reports no SDK event could describe.',
    '',
  );
  for (const e of engines.filter((x) => x.analysis)) {
    for (const [page, a] of Object.entries(e.analysis.pages)) {
      out.push(`<details><summary>${e.folder}: ${page} (${a.rows.length} SDK events, ${a.nativeReports.reportUri} report-uri, ${a.nativeReports.reportTo} report-to)</summary>`, '');
      out.push(`Shapes: ${a.shapes.map((s) => `\`${s}\``).join('; ') || 'none'}.`, '');
      const rows = a.rows.map((r) => {
        const s = Object.entries(r.streams)
          .map(([k, v]) => `${STREAMS[k]} ×${v.reports}${v.diffs.length ? `: ${v.diffs.map((d) => `${d.field} ${d.sdk} → ${d.native}`).join('; ')}` : ': same'} (${v.delayMs.join(', ')} ms${v.age.length ? `; age ${v.age.join(', ')}` : ''})`)
          .join('<br>');
        return [r.kind, r.phase, r.count, r.element ?? '-', r.sdk.blockedURL, `${r.sdk.sourceFile} ${r.sdk.lineNumber}:${r.sdk.columnNumber}`, r.sdk.sample, r.sdk.disposition, s || 'no native report'];
      });
      for (const u of a.unpaired) rows.push([u.kind, 'unpaired', '-', '-', u.fields.blockedURL, `${u.fields.sourceFile} ${u.fields.lineNumber}:${u.fields.columnNumber}`, u.fields.sample, u.fields.disposition, `${STREAMS[u.stream]} only`]);
      out.push(table(['kind', 'when', 'n', 'element', 'blockedURL', 'sourceFile line:col', 'sample', 'disposition', 'native'], rows), '', '</details>', '');
    }
  }
  return out;
}

/** Rewrites `file` below MARKER from the capture folder `dir`. */
export function writeEnginesMd(file, dir) {
  const engines = loadEngines(dir);
  if (!engines.length) throw new Error(`csp-lens: no capture (counts.json or demo/analysis.json) under ${dir}`);
  const old = existsSync(file) ? readFileSync(file, 'utf8') : '';
  const head = old.includes(MARKER) ? old.slice(0, old.indexOf(MARKER)) : `${old}\n`;
  const versions = engines.map((e) => `${e.folder}: ${e.counts?.version ?? e.analysis?.version} (${e.counts?.userAgent ?? e.analysis?.userAgent})`);
  const body = [MARKER, '', `Measured with: ${versions.join('; ')}.`, '', ...probeSection(engines), ...storedSection(engines), ...diffSection(engines), ...detailSection(engines)];
  writeFileSync(file, `${head}${body.join('\n')}`);
}
