// The receiver's TypeScript sources as ES modules, for in-process benchmarks and checks of the
// working tree: each file through TypeScript's transpileModule (no type check) into a temp dir.
//   const mod = await loadSource(); const { parseBody } = await mod('core/parse.js');
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import ts from 'typescript';
import { ROOT } from './lib.mjs';

/** packages/{schema,receiver}/src → OUT/{schema,receiver}/*.js, '@csp-lens/schema' made relative. */
function compile(out, root) {
  const walk = (dir) => readdirSync(dir).flatMap((f) => (statSync(join(dir, f)).isDirectory() ? walk(join(dir, f)) : [join(dir, f)]));
  for (const pkg of ['schema', 'receiver']) {
    const src = join(root, 'packages', pkg, 'src');
    for (const file of walk(src).filter((f) => f.endsWith('.ts'))) {
      const target = join(out, pkg, relative(src, file)).replace(/\.ts$/, '.js');
      const { outputText } = ts.transpileModule(readFileSync(file, 'utf8'), {
        compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
      });
      let rel = relative(dirname(target), join(out, 'schema', 'index.js'));
      if (!rel.startsWith('.')) rel = `./${rel}`;
      mkdirSync(dirname(target), { recursive: true });
      writeFileSync(target, outputText.replaceAll("'@csp-lens/schema'", `'${rel}'`));
    }
  }
}

/**
 * Compiles, and returns `mod(path)`: an import of packages/receiver/src/<path> (`.js` for `.ts`).
 * `root`: another checkout of the repository (default: this one).
 */
export async function loadSource(root = ROOT) {
  const { resolve } = compileSource(root);
  return (path) => import(pathToFileURL(resolve(path)).href);
}

/**
 * Compiles into a temp dir (removed at exit unless KEEP_SOURCE is set); `resolve(path)` is the file
 * of packages/receiver/src/<path> there, for another process to import.
 */
export function compileSource(root = ROOT) {
  const dir = mkdtempSync(join(tmpdir(), 'csp-lens-source-'));
  compile(dir, root);
  // Packages (pg, koa…) resolve from this checkout's node_modules.
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
  if (!process.env.KEEP_SOURCE) process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  return { dir, resolve: (path) => join(dir, 'receiver', located(join(dir, 'receiver'), path)) };
}

/**
 * `path` in the compiled tree, or where an older checkout had it: before the core/store split
 * (issue 15) `core/x.js` was `x.js` or `store/x.js`, `http/`, `outputs/`, `server/` files sat at
 * the top, and `store/file/x.js`, `store/postgres/x.js` were `store/x.js`, `store/postgres-x.js`.
 */
function located(tree, path) {
  const [folder, ...rest] = path.split('/');
  const name = rest.join('/');
  const candidates = [path];
  if (['core', 'http', 'outputs', 'server'].includes(folder)) candidates.push(name, `store/${name}`);
  const store = /^store\/(file|postgres)\/(.+)$/.exec(path);
  if (store) candidates.push(store[2] === 'index.js' ? `store/${store[1]}.js` : store[1] === 'file' ? `store/${store[2]}` : `store/postgres-${store[2]}`);
  return candidates.find((c) => existsSync(join(tree, c))) ?? path;
}
