// One rollup config for everything that ships built: the receiver (Node ESM, dependencies external)
// and the browser SDK (ESM + minified IIFE, with a size budget checked in test/browser/size.test.ts).
import typescript from '@rollup/plugin-typescript';
import terser from '@rollup/plugin-terser';
import { builtinModules } from 'node:module';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import ts_ from 'typescript';

const receiverPkg = JSON.parse(readFileSync('packages/receiver/package.json', 'utf8'));
const external = [
  ...builtinModules,
  ...builtinModules.map((m) => `node:${m}`),
  ...Object.keys(receiverPkg.dependencies ?? {}),
];
const ts = (extra = {}) =>
  typescript({
    tsconfig: 'tsconfig.json',
    compilerOptions: { noEmit: false, declaration: false, sourceMap: false, ...extra },
    include: ['packages/*/src/**/*.ts'],
    outputToFilesystem: false,
  });

// Declarations of a published package, one `dist/<name>.d.ts` per entry. TypeScript keeps the
// `@csp-lens/schema` path alias in what it emits, and that package is private (never published):
// emit the schema's declarations beside the package's own and point the import at them, so each
// dist/ is self-contained. Only the declarations an entry reaches are written: the rest (pg's
// internals behind the store, the CLI's parsing) would ship unused and ask TypeScript users for
// types they never need. `extra` adds hand-written declarations (assets that are not modules).
const dts = (pkg, entries, extra = {}) => ({
  name: 'csp-lens-dts',
  writeBundle() {
    const dir = resolve(`packages/${pkg}/dist`);
    const { options } = ts_.parseJsonConfigFileContent(
      ts_.readConfigFile('tsconfig.json', ts_.sys.readFile).config, ts_.sys, '.');
    const program = ts_.createProgram(Object.values(entries).map((e) => `packages/${pkg}/src/${e}.ts`), {
      ...options, noEmit: false, declaration: true, emitDeclarationOnly: true,
      rootDir: 'packages', declarationDir: `${dir}/types`,
    });
    const emitted = new Map();
    const { diagnostics } = program.emit(undefined, (file, text) => {
      const rel = relative(dirname(file), `${dir}/types/schema/src/index.js`);
      // Both quotes: TypeScript writes inline `import("…")` types with double ones.
      emitted.set(resolve(file), text.replace(/(['"])@csp-lens\/schema\1/g, `$1${rel.startsWith('.') ? rel : `./${rel}`}$1`));
    });
    if (diagnostics.length) this.error(ts_.formatDiagnostics(diagnostics, ts_.createCompilerHost(options)));
    const reached = new Set(Object.values(entries).map((e) => `${dir}/types/${pkg}/src/${e}.d.ts`));
    for (const file of reached) {
      const text = emitted.get(file);
      if (text === undefined) this.error(`csp-lens-dts: ${file} was not emitted`);
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, text);
      for (const [, , spec] of text.matchAll(/(?:from |import\()(['"])(\.\.?\/[^'"]+)\.js\1/g)) {
        reached.add(resolve(dirname(file), `${spec}.d.ts`));
      }
    }
    for (const [name, entry] of Object.entries(entries)) {
      writeFileSync(`${dir}/${name}.d.ts`, `export * from './types/${pkg}/src/${entry}.js';\n`);
    }
    for (const [file, text] of Object.entries(extra)) writeFileSync(`${dir}/${file}`, text);
  },
});

const receiver = {
  input: {
    index: 'packages/receiver/src/index.ts',
    cli: 'packages/receiver/src/server/cli.ts',
    // A subpath of its own, so that file-store users never load pg.
    postgres: 'packages/receiver/src/store/postgres/index.ts',
  },
  output: { dir: 'packages/receiver/dist', format: 'es', entryFileNames: '[name].js', chunkFileNames: 'shared-[name].js' },
  external: (id) => external.includes(id) || external.some((e) => id.startsWith(`${e}/`)),
  // cli is the bin, not an export: it needs no declarations.
  plugins: [ts(), dts('receiver', { index: 'index', postgres: 'store/postgres/index' })],
};

// ES2020 for the SDK: native `?.`/`??` and object spread (no helpers) in every current browser.
const sdk = [
  {
    input: 'packages/browser/src/index.ts',
    output: { file: 'packages/browser/dist/index.mjs', format: 'es' },
    plugins: [
      ts({ target: 'ES2020' }),
      dts('browser', { index: 'index' }, {
        // `@csp-lens/browser/sdk.js` is the self-starting script a page loads with a <script> tag
        // (the receiver serves it): nothing to import, but a path a bundler or `import.meta.resolve`
        // may name, so it declares that it exports nothing.
        'sdk.d.ts': '// The self-starting SDK for a <script> tag: it exports nothing.\nexport {};\n',
      }),
    ],
  },
  {
    input: 'packages/browser/src/auto.ts',
    // No "use strict": the code is typed module code that never relies on strict mode (no `this`,
    // `arguments`, `with`, or undeclared names). Sloppy mode only differs where strict mode
    // throws (writing a frozen object a beforeSend returned, say), and there it is the more
    // forgiving of the two. Saves 9 bytes gzipped.
    output: { file: 'packages/browser/dist/sdk.js', format: 'iife', strict: false },
    plugins: [
      ts({ target: 'ES2020' }),
      // `_x` properties are internal: mangling them is safe and saves bytes. `__x` are not
      // (`window.__cspLens` is shared with the loader snippet and the ESM build).
      terser({
        ecma: 2020,
        // No `this`/`arguments` in the SDK, and booleans are only ever truthy/falsy there.
        compress: { passes: 3, unsafe_arrows: true, unsafe_methods: true, booleans_as_integers: true, keep_fargs: false },
        mangle: { properties: { regex: /^_[^_]/ } },
        format: { comments: false },
      }),
    ],
  },
];

// The dashboard client: one minified IIFE beside its page and stylesheet, served by
// packages/receiver/src/dashboard/server.ts. Plain TS, no framework (DOM by createElement only).
const dashboardDir = 'packages/receiver/src/dashboard/client';
const dashboardStatic = () => ({
  name: 'csp-lens-dashboard-static',
  buildStart() {
    for (const f of ['index.html', 'style.css']) this.addWatchFile(`${dashboardDir}/${f}`);
  },
  generateBundle() {
    this.emitFile({ type: 'asset', fileName: 'index.html', source: readFileSync(`${dashboardDir}/index.html`, 'utf8') });
    this.emitFile({ type: 'asset', fileName: 'app.css', source: readFileSync(`${dashboardDir}/style.css`, 'utf8') });
  },
});
const dashboard = {
  input: `${dashboardDir}/app.ts`,
  output: { dir: 'packages/receiver/dist/dashboard', format: 'iife', entryFileNames: 'app.js' },
  plugins: [
    ts({ target: 'ES2020' }),
    terser({ ecma: 2020, compress: { passes: 2 }, format: { comments: false } }),
    dashboardStatic(),
  ],
};

export default [receiver, ...sdk, dashboard];
