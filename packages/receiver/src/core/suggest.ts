// What one violation asks of its policy: the source that would allow it, or why none should. The
// per-group advice (advice.ts) and the policy builder (proposal.ts) both start here; the evidence
// across records (one client only, new on a known page) is judged in judge.ts.
import type { SourceKind, Verdict, ViolationRecord } from '@csp-lens/schema';
import { hashSource, parseUrl, REDACTED_NONCE, siteOf } from './csp-source.js';
import { governing, type Directives } from './csp-policy.js';
import { webOrigin } from './classify.js';
import { isCutToOrigin } from './url.js';

/** The record fields a suggestion reads. */
export type Violationish = Pick<
  ViolationRecord,
  'effectiveDirective' | 'blockedURL' | 'documentURL' | 'category' | 'sample' | 'element' | 'sourceFile' | 'lineNumber' | 'columnNumber'
>;

/** Why the evidence across records may overrule an `allow` (judge.ts). */
export type Risk = 'inline-script' | 'exfiltration';

export interface Suggestion {
  verdict: Verdict;
  kind?: SourceKind;
  /** What to add; empty when nothing should be. `'unsafe-hashes'` comes with attribute hashes. */
  sources: string[];
  /** For a host or path source: the blocked URL's origin and path (advice.ts narrows paths). */
  origin?: string;
  path?: string;
  reason: string;
  warnings: string[];
  alternatives: string[];
  risk?: Risk;
  /** Where the code is, for eval and inline code (`fix-code`). */
  code?: boolean;
  /** A source the report asked for that is no valid source expression: never emitted. */
  rejected?: string;
}

const SCRIPT = /^script-src(-elem|-attr)?$/;
const STYLE = /^style-src(-elem|-attr)?$/;
const NONCE_TIP = "Give the element the page's nonce instead (cspHeader() adds one per response: ctx.state.cspNonce).";
const NO_UNSAFE_INLINE = "Not 'unsafe-inline': it would allow every inline script, an injected one too (and a nonce or hash in the same list switches it off).";

const fixCode = (reason: string, alternatives: string[] = [], code = true): Suggestion => ({ verdict: 'fix-code', sources: [], reason, warnings: [], alternatives, code });
const investigate = (reason: string, alternatives: string[] = []): Suggestion => ({ verdict: 'investigate', sources: [], reason, warnings: [], alternatives });
const allow = (kind: SourceKind, sources: string[], reason: string, more: Partial<Suggestion> = {}): Suggestion => ({ verdict: 'allow', kind, sources, reason, warnings: [], alternatives: [], ...more });

/** The source that would allow `v` under `directives` (its policy), or why none should. */
export function suggest(v: Violationish, directives: Directives): Suggestion {
  const dir = v.effectiveDirective;
  const blocked = v.blockedURL ?? '';
  if (v.category === 'eval') {
    return fixCode('The code evaluates a string (eval(), new Function(), or a string given to setTimeout/setInterval): the fix is in that code, not in the policy.', [
      'Parse data with JSON.parse, pass functions (not strings) to timers, and replace templates compiled at run time by precompiled ones.',
      "Last resort: 'unsafe-eval' in script-src, which lets every injected string run as code.",
    ]);
  }
  if (v.category === 'wasm-eval') {
    return allow('keyword', ["'wasm-unsafe-eval'"], "The page compiles WebAssembly: 'wasm-unsafe-eval' allows that, and not eval() of JavaScript.");
  }
  if (blocked === 'trusted-types-policy') return trustedTypesPolicy(v, directives);
  if (v.category === 'trusted-types' || dir === 'require-trusted-types-for') {
    return fixCode(`A string reached a DOM sink that takes code or markup${v.sample ? ` (${v.sample.split('|')[0]})` : ''}: create the value through a Trusted Types policy, or use a safe API (textContent, setAttribute).`);
  }
  if (/^javascript:/i.test(blocked) || (v.category === 'inline' && /^javascript:/i.test(v.sample ?? ''))) {
    return investigate('A javascript: URL ran (or tried to): the classic form of injected markup (href="javascript:…"). If it is the page\'s own, replace it with a listener.');
  }
  if (v.category === 'inline') return inline(v, directives);
  if (v.category === 'extension') {
    return investigate('Code of a browser extension, not of the page: nothing to add (the noise filter drops these by default).');
  }
  if (v.category === 'data' || v.category === 'blob' || (v.category === 'other' && /^[a-z][a-z0-9+.-]*:?$/i.test(blocked) && !blocked.includes('/'))) {
    return scheme(v, blocked.replace(/:.*$/s, '').toLowerCase());
  }
  return url(v, directives);
}

function inline(v: Violationish, directives: Directives): Suggestion {
  const dir = v.effectiveDirective;
  const attr = dir.endsWith('-attr');
  const script = SCRIPT.test(dir);
  const hash = hashSource(v.element?.hash);
  if (!script && !STYLE.test(dir)) return investigate(`Inline code blocked by ${dir}: no source applies here.`);
  if (hash) {
    const sources = attr ? ["'unsafe-hashes'", hash] : [hash];
    const what = attr ? (script ? 'this event handler' : 'this style attribute') : script ? 'this inline script' : 'this inline style';
    return allow('hash', sources, `The SDK hashed ${what}: its hash allows exactly this text and nothing else.`, {
      warnings: attr ? [`'unsafe-hashes' lets this exact text run in any ${script ? 'handler' : 'style'} attribute of the page.`] : [],
      alternatives: attr
        ? [script ? 'Better: move the handler into a script (element.addEventListener).' : 'Better: move the style into a class in a stylesheet (element.style set from script is not blocked).']
        : [NONCE_TIP, 'Or move the code into a file on an allowed host.'],
      risk: script ? 'inline-script' : undefined,
      code: true,
    });
  }
  const noHash = 'No hash was reported: the SDK sends one for inline code it sees (on the page, in a secure context, up to 16 Ki characters of text); browsers send a 40-character sample at most.';
  if (attr) {
    return fixCode(noHash, [
      script ? 'Move the handler into a script (element.addEventListener).' : 'Move the style into a class in a stylesheet (element.style set from script is not blocked).',
      script ? NO_UNSAFE_INLINE : "Last resort: 'unsafe-inline' in style-src-attr only.",
    ]);
  }
  const nonced = (directives.get(governing(dir, directives) ?? '') ?? []).includes(REDACTED_NONCE);
  return fixCode(noHash, [nonced ? "The policy has a nonce: give this element the page's nonce." : NONCE_TIP, 'Or move the code into a file on an allowed host.', script ? NO_UNSAFE_INLINE : "Last resort: 'unsafe-inline' in style-src."]);
}

function trustedTypesPolicy(v: Violationish, directives: Directives): Suggestion {
  const name = v.sample ?? '';
  if (!/^[a-z0-9\-#=_/@.%]{1,64}$/i.test(name)) return { ...investigate('A Trusted Types policy was created under a name the report does not give, or no valid name.'), rejected: name || undefined };
  const listed = directives.get('trusted-types') ?? [];
  if (listed.includes(name)) return allow('keyword', ["'allow-duplicates'"], `The policy "${name}" was created twice; 'allow-duplicates' allows that (or create it once).`);
  return allow('trusted-types', [name], `The page creates the Trusted Types policy "${name}", which trusted-types does not list.`);
}

function scheme(v: Violationish, name: string): Suggestion {
  const dir = v.effectiveDirective;
  if (!/^[a-z][a-z0-9+.-]*$/.test(name)) return { ...investigate('The blocked URL names no usable scheme.'), rejected: name };
  const source = `${name}:`;
  if (SCRIPT.test(dir) || dir === 'object-src') {
    if (name === 'data') {
      return { ...allow('scheme', [source], 'A data: URL was loaded as code.'), verdict: 'investigate', warnings: ['data: in a script directive lets injected markup run any code (<script src="data:…">): allow it only if the page builds such scripts itself.'] };
    }
    return allow('scheme', [source], `A ${source} URL was loaded as script.`, { warnings: [`${source} scripts are made by script already on the page, but any script that runs there can then make one.`] });
  }
  return allow('scheme', [source], `A ${source} URL was loaded (${dir}).`);
}

function url(v: Violationish, directives: Directives): Suggestion {
  const dir = v.effectiveDirective;
  const u = parseUrl(v.blockedURL);
  if (!u || !/^(https?|wss?)$/.test(u.scheme)) {
    return { ...investigate(v.blockedURL ? 'The blocked URL names no host a source can allow.' : 'The report names nothing that was blocked.'), rejected: v.blockedURL };
  }
  const doc = parseUrl(v.documentURL);
  const sameOrigin = webOrigin(v.blockedURL) === webOrigin(v.documentURL);
  if (dir === 'frame-ancestors') return frameAncestor(v, u.origin, sameOrigin);
  if (dir === 'object-src') return fixCode("A plugin (object/embed) was blocked: keep object-src 'none' and show the content with <img>, <video> or <iframe>.", [], false);
  const list = directives.get(governing(dir, directives) ?? '') ?? [];
  // Reports name the URL before any redirect (CSP3 §5.5): a URL its policy allows was blocked
  // after a redirect to one it does not.
  const has = (src: string) => list.some((x) => x.toLowerCase() === src.toLowerCase() || x.toLowerCase() === `${src.toLowerCase()}/`);
  if (sameOrigin ? has("'self'") : has(u.origin)) {
    return investigate(`${sameOrigin ? "'self'" : u.origin} already allows this URL: the request was redirected to one the policy does not allow (reports name the URL before the redirect). Allow the redirect's target (the browser's network panel shows it), or link to it directly.`);
  }
  if (sameOrigin) return allow('self', ["'self'"], "The blocked URL is on the page's own origin.");
  if (dir === 'base-uri') return investigate(`A <base> pointing at ${u.origin} re-points every relative URL of the page: usually injected markup.`);
  if (SCRIPT.test(dir) && list.some((s) => s.toLowerCase() === "'strict-dynamic'")) {
    return fixCode(`The policy has 'strict-dynamic', which ignores host sources: give this <script> the nonce, or load it from a script that has one.`, [], false);
  }
  const sameSite = !!doc && siteOf(doc.host) === siteOf(u.host);
  const exfil = (dir === 'connect-src' || dir === 'form-action') && !sameSite;
  const base = sameSite
    ? { kind: 'path' as const, reason: `${u.origin} is on the page's own site: the source names the path the records loaded.` }
    : { kind: 'host' as const, reason: `${u.origin} is another site: the source allows that origin.` };
  return allow(base.kind, [u.origin], base.reason, { origin: u.origin, path: sameSite ? u.path : undefined, risk: exfil ? 'exfiltration' : undefined });
}

/** Chromium names the framed page's own origin (cut), Firefox the parent's URL, WebKit the framed URL. */
function frameAncestor(v: Violationish, origin: string, sameOrigin: boolean): Suggestion {
  const cut = !!v.blockedURL && isCutToOrigin(v.blockedURL);
  if (sameOrigin && cut) {
    return investigate('The page was framed by a page the browser does not name (Chromium reports the framed page\'s own origin): if you do not embed it anywhere, this is the clickjacking protection working.');
  }
  if (sameOrigin) return allow('self', ["'self'"], 'The page was framed by a page of its own origin.');
  return {
    ...allow('frame-ancestor', [origin], `The page was framed by ${origin}.`),
    verdict: 'investigate',
    warnings: ['frame-ancestors is the clickjacking protection: allow only sites that embed this page on purpose (it cannot be set in a <meta> policy).'],
  };
}
