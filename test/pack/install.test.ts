// What a user gets from the registry: both packages packed with `npm pack`, installed into a fresh
// project outside this repository (no workspace links, no sibling folders), then the README's Koa
// snippet run as written and a strict TypeScript file checked against the published types.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ViolationPage } from '@csp-lens/schema';
import { outsideEnv, readmeSnippet, root, run, startNode } from './helpers.js';

const PACKAGES = ['browser', 'receiver'] as const;
const rootDir = fileURLToPath(root);

interface Packed {
  name: string;
  filename: string;
  files: { path: string; size: number }[];
  size: number;
  unpackedSize: number;
}

let dir: string;
let app: string;
let packed: Record<(typeof PACKAGES)[number], Packed>;

beforeAll(async () => {
  for (const built of ['packages/receiver/dist/index.js', 'packages/browser/dist/sdk.js']) {
    if (!existsSync(join(rootDir, built))) throw new Error(`csp-lens: ${built} is missing: run npm run build first`);
  }
  dir = await mkdtemp(join(tmpdir(), 'csp-lens-pack-'));
  app = join(dir, 'app');
  // Outside the workspace, or node would find this repository's node_modules and hide what is missing.
  expect(relative(rootDir, app).startsWith('..')).toBe(true);
  await mkdir(join(dir, 'tarballs'));
  await mkdir(app);
  const json = await run('npm', ['pack', '--json', '--pack-destination', join(dir, 'tarballs'),
    ...PACKAGES.flatMap((p) => ['--workspace', `packages/${p}`])], rootDir);
  const list = JSON.parse(json) as Packed[];
  packed = Object.fromEntries(PACKAGES.map((p) => [p, list.find((x) => x.name === `@csp-lens/${p}`)!])) as typeof packed;
  await writeFile(join(app, 'package.json'), JSON.stringify({ name: 'csp-lens-user', private: true, type: 'module' }));
  await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund',
    ...PACKAGES.map((p) => join(dir, 'tarballs', packed[p].filename)),
    'koa', 'typescript@~5.9', '@types/koa', '@types/node'], app);
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

const installed = (pkg: string, file = '') => join(app, 'node_modules', '@csp-lens', pkg, file);
const manifest = (pkg: string) => JSON.parse(readFileSync(installed(pkg, 'package.json'), 'utf8'));

/** Every file a package.json points at: main, types, bin and each `exports` target. */
function targets(json: Record<string, unknown>): string[] {
  const out: string[] = [];
  const walk = (v: unknown): void => {
    if (typeof v === 'string') out.push(v);
    else if (v && typeof v === 'object') Object.values(v).forEach(walk);
  };
  walk([json.main, json.types, json.bin, json.exports]);
  return out.map((p) => p.replace(/^\.\//, ''));
}

describe('the packed packages', () => {
  it.each(PACKAGES)('@csp-lens/%s carries a README, the MIT LICENSE and every file its package.json names', (pkg) => {
    const files = packed[pkg].files.map((f) => f.path);
    expect(files).toEqual(expect.arrayContaining(['README.md', 'LICENSE', 'package.json']));
    expect(files.filter((f) => f.startsWith('src/') || f.endsWith('.ts') && !f.endsWith('.d.ts'))).toEqual([]);
    const json = manifest(pkg);
    for (const t of targets(json)) expect(files, `${pkg}: ${t}`).toContain(t);
    expect(json.license).toBe('MIT');
    // The receiver runs on Node; the SDK runs in browsers, so it names no Node version.
    if (pkg === 'receiver') expect(json.engines?.node).toBe('>=20');
    const license = readFileSync(installed(pkg, 'LICENSE'), 'utf8');
    expect(license).toBe(readFileSync(join(rootDir, 'LICENSE'), 'utf8'));
    expect(license).toMatch(/^MIT License/);
    expect(license).toMatch(/Copyright \(c\) \d{4} the csp-lens authors/);
  });

  it.each(PACKAGES)('@csp-lens/%s types every export and never name the private schema package', async (pkg) => {
    const json = manifest(pkg);
    for (const [sub, target] of Object.entries(json.exports as Record<string, unknown>)) {
      if (sub === './package.json') continue;
      expect(target, `${pkg} ${sub}`).toHaveProperty('types', expect.stringMatching(/^\.\/dist\/.*\.d\.ts$/));
    }
    const dts = (packed[pkg].files.map((f) => f.path)).filter((f) => f.endsWith('.d.ts'));
    for (const f of dts) expect(await readFile(installed(pkg, f), 'utf8'), f).not.toContain('@csp-lens/schema');
  });

  it("the receiver's README carries the Koa snippet this file runs, unchanged", () => {
    expect(readmeSnippet('In your Koa app', 'packages/receiver/README.md')).toBe(readmeSnippet('Mount it in your Koa app'));
  });

  it('the receiver declares the SDK it serves as a dependency', () => {
    expect(manifest('receiver').dependencies).toHaveProperty('@csp-lens/browser', manifest('browser').version);
  });
});

const REPORT = {
  'csp-report': {
    'document-uri': 'https://site.example/p', 'violated-directive': 'img-src', 'effective-directive': 'img-src',
    'blocked-uri': 'https://cdn.example/a.png', disposition: 'enforce', 'original-policy': "img-src 'self'",
  },
};
const READY = /(http:\/\/127\.0\.0\.1:\d+)\/csp\/dashboard#token=([\w-]+)/;
const argv = ['--import', './no-pg.mjs', 'server.mjs'];
// Fails the run if anything imports pg: the file store must never load it.
const NO_PG = `import { register } from 'node:module';
register('data:text/javascript,' + encodeURIComponent(
  'export async function resolve(s, c, next) { if (s === "pg" || s.startsWith("pg/")) throw new Error("pg was loaded"); return next(s, c); }'));
`;

/** The README's snippet, verbatim, as the app's server.mjs. */
async function writeServer(): Promise<void> {
  await writeFile(join(app, 'server.mjs'), readmeSnippet('Mount it in your Koa app'));
  await writeFile(join(app, 'no-pg.mjs'), NO_PG);
}

describe("the README's Koa snippet, installed from the tarballs", () => {
  it('serves the SDK, stores a report, reads it back with the printed token, and closes the store on SIGTERM', async () => {
    await writeServer();
    const first = await startNode(argv, app, outsideEnv({ PORT: '0' }), READY);
    try {
      const [, origin, token] = first.match;
      const sdk = await fetch(`${origin}/csp/sdk.js`);
      expect(sdk.status).toBe(200);
      expect(sdk.headers.get('content-type')).toMatch(/^application\/javascript/);
      expect(await sdk.text()).toBe(readFileSync(installed('browser', 'dist/sdk.js'), 'utf8'));

      const page = await fetch(`${origin}/`);
      const policy = page.headers.get('content-security-policy') ?? '';
      expect(policy).toMatch(/report-uri \/csp\/report/);
      const nonce = /'nonce-([^']+)'/.exec(policy)?.[1];
      expect(await page.text()).toContain(`<script src="/csp/sdk.js" nonce="${nonce}" async>`);

      const posted = await fetch(`${origin}/csp/report`, {
        method: 'POST', headers: { 'content-type': 'application/csp-report' }, body: JSON.stringify(REPORT),
      });
      expect(posted.status).toBe(204);
      const read = await fetch(`${origin}/csp/api/violations`, { headers: { authorization: `Bearer ${token}` } });
      expect(read.status).toBe(200);
      const body = (await read.json()) as ViolationPage;
      expect(body.items.map((r) => [r.effectiveDirective, r.blockedURL])).toEqual([['img-src', 'https://cdn.example/a.png']]);
    } finally {
      first.child.kill('SIGTERM');
    }
    expect(await first.exited, first.output()).toEqual({ code: 0, signal: null });
    expect(await readdir(app)).not.toContain('csp-lens.json.lock');

    // Restarted with a token of one's own: the store reopens (its lock was released) with the report.
    const token = 'a-token-of-my-own-0123456789';
    const second = await startNode(argv, app, outsideEnv({ PORT: '0', CSP_LENS_TOKEN: token }), READY);
    try {
      expect(second.match[2]).toBe(token);
      const read = await fetch(`${second.match[1]}/csp/api/violations`, { headers: { authorization: `Bearer ${token}` } });
      expect(((await read.json()) as ViolationPage).items).toHaveLength(1);
    } finally {
      second.child.kill('SIGINT');
    }
    expect(await second.exited, second.output()).toEqual({ code: 0, signal: null });
  });
});

describe('the published types', () => {
  it('type-check a strict project importing every export', async () => {
    await writeFile(join(app, 'tsconfig.json'), JSON.stringify({
      compilerOptions: {
        strict: true, module: 'node16', moduleResolution: 'node16', target: 'ES2022', lib: ['ES2022', 'DOM'],
        types: ['node'], skipLibCheck: false, noEmit: true,
      },
      files: ['check.ts'],
    }));
    await writeFile(join(app, 'check.ts'), `
import Koa from 'koa';
import { createReceiver, openFileStore, cspHeader, type Receiver, type Store } from '@csp-lens/receiver';
import { openPostgresStore, type PostgresStoreOptions } from '@csp-lens/receiver/postgres';
import { init } from '@csp-lens/browser';
// The script-tag build exports nothing, but without its declaration even naming it is TS7016.
import type {} from '@csp-lens/browser/sdk.js';

const options: PostgresStoreOptions = { connectionString: 'postgres://db.internal/csp', poolSize: 2 };
const store: Store = process.env.DATABASE_URL ? await openPostgresStore(options) : await openFileStore({ path: 'x.json' });
const receiver: Receiver = createReceiver({ store, prefix: '/csp' });
const token: string = receiver.token;
new Koa().use(receiver.middleware()).use(cspHeader({ directives: { 'default-src': ["'self'"] } }));
// @ts-expect-error the prefix is a string: the types are real, not any
createReceiver({ store, prefix: 1 });
const lens = init({ endpoint: '/csp/sdk', release: token });
lens.flush();
`);
    await run(join(app, 'node_modules/.bin/tsc'), ['-p', '.'], app);
  });
});

describe('the SDK the receiver serves', () => {
  // npm nests the receiver's own @csp-lens/browser under it when the app holds another version at
  // the top: the receiver must serve its dependency, not whatever sits beside it.
  it('is its own dependency even when the app holds another @csp-lens/browser', async () => {
    const top = installed('browser');
    const nested = join(app, 'node_modules/@csp-lens/receiver/node_modules/@csp-lens/browser');
    const own = readFileSync(installed('browser', 'dist/sdk.js'), 'utf8');
    await mkdir(dirname(nested), { recursive: true });
    await rename(top, nested);
    await mkdir(join(top, 'dist'), { recursive: true });
    await writeFile(join(top, 'package.json'), JSON.stringify({ name: '@csp-lens/browser', version: '0.0.0-the-apps-own', exports: { './sdk.js': './dist/sdk.js' } }));
    await writeFile(join(top, 'dist/sdk.js'), '/* the app\'s own SDK build */');
    await writeServer();
    try {
      const started = await startNode(argv, app, outsideEnv({ PORT: '0' }), READY);
      try {
        const sdk = await fetch(`${started.match[1]}/csp/sdk.js`);
        expect(sdk.status).toBe(200);
        expect(await sdk.text()).toBe(own);
      } finally {
        started.child.kill('SIGTERM');
      }
      expect((await started.exited).code, started.output()).toBe(0);
    } finally {
      await rm(top, { recursive: true, force: true });
      await rename(nested, top);
    }
  });
});
