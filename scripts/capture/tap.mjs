// Records every request that reaches an http(s) server of this process, body bytes included, without
// touching the server or its middleware: the demo's receivers parse their bodies as usual. Node
// publishes each request on a diagnostics channel before the server sees it; wrapping that
// request's push() sees the body chunks whoever reads them (a 'data' listener here would start the
// stream flowing before the receiver listens, and it would miss them).
import dc from 'node:diagnostics_channel';

const CHANNEL = 'http.server.request.start';

/** Starts recording; `entries` fills as responses finish; stop() unsubscribes. */
export function tapRequests() {
  const entries = [];
  const onRequest = ({ request, response, server }) => {
    const at = Date.now();
    const chunks = [];
    const push = request.push;
    request.push = function (chunk, encoding) {
      if (chunk) chunks.push(Buffer.from(chunk));
      return push.call(this, chunk, encoding);
    };
    response.once('finish', () => {
      entries.push({
        at,
        port: server.address()?.port,
        method: request.method,
        url: request.url,
        rawHeaders: request.rawHeaders.slice(),
        body: Buffer.concat(chunks),
        status: response.statusCode,
      });
    });
  };
  dc.subscribe(CHANNEL, onRequest);
  return { entries, stop: () => dc.unsubscribe(CHANNEL, onRequest) };
}
