// The "third party": another origin whose script, stylesheet, images, frame, API and form target the
// demo pages use, so cross-origin violations are real. Under an enforced policy the browser never
// asks it for anything; on the report-only page everything really loads from here.
import Koa from 'koa';

// A 1×1 transparent PNG.
const PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==',
  'base64',
);

const page = (title, text) =>
  `<!doctype html><meta charset="utf-8"><title>${title}</title><p>${text}</p>`;

export function createThirdPartyApp() {
  const app = new Koa();
  app.use(async (ctx) => {
    const p = ctx.path;
    if (p === '/static/x.js') {
      ctx.type = 'application/javascript';
      ctx.body = "window.__thirdPartyScriptRan = true; console.log('third-party script ran');";
    } else if (p === '/static/s.css') {
      ctx.type = 'text/css';
      ctx.body = 'body { border-top: 4px solid orange; } /* third-party stylesheet */';
    } else if (/^\/(images|img2|dyn|redirected)\//.test(p)) {
      ctx.type = 'image/png';
      ctx.body = PNG;
    } else if (p === '/frame.html') {
      ctx.type = 'html';
      ctx.body = page('third-party frame', 'A third-party frame: it loaded, so frame-src did not block it.');
    } else if (p === '/submit' && ctx.method === 'POST') {
      ctx.type = 'html';
      ctx.body = page('form received', 'The third party received the form: form-action did not block it.');
    } else if (p === '/api/data') {
      ctx.set('Access-Control-Allow-Origin', '*');
      ctx.body = { thirdParty: true };
    } else if (p === '/redirect') {
      // Allowed-to-disallowed redirects are violations too; only to this origin, never an open redirect.
      ctx.redirect(`/redirected/${encodeURIComponent(String(ctx.query.to ?? 'x'))}.png`);
    } else {
      ctx.status = 404;
    }
  });
  return app;
}
