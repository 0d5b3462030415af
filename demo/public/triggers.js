// The demo page's own script (loaded under the page's nonce). It triggers the violations that need
// page code — DevTools / page.evaluate('eval(…)') is not CSP-checked, a button click is — and wires
// the buttons that trigger each kind again. Every on-demand trigger gets a fresh number in its URL or
// code, because browsers send one native report per distinct violation per document.
(() => {
  const me = document.currentScript;
  const TP = me.dataset.thirdParty; // e.g. https://127.0.0.1:8802, the "third-party" origin
  const TP_LH = me.dataset.thirdPartyLocalhost; // the same server as https://localhost:…, another site
  const sandbox = document.getElementById('sandbox');
  const logList = document.getElementById('log');
  const log = (kind, message, i = n) => {
    const li = document.createElement('li');
    li.textContent = `#${i} ${kind}: ${message}`;
    logList.prepend(li);
  };
  let n = 0;

  const kinds = {
    'external-script'(i) {
      const s = document.createElement('script');
      s.src = `${TP}/static/x.js?ext=1&token=abc&n=${i}`;
      document.head.append(s);
    },
    'external-stylesheet'(i) {
      const l = document.createElement('link');
      l.rel = 'stylesheet';
      l.href = `${TP}/static/s.css?css=1&k=v&n=${i}`;
      document.head.append(l);
    },
    'inline-script'(i) {
      const s = document.createElement('script');
      s.textContent = `window.__inlineRan = 'inline script #${i} inserted without a nonce';`;
      sandbox.append(s);
    },
    'inline-style-element'(i) {
      const s = document.createElement('style');
      s.textContent = `/* inline style element #${i}, no nonce */ #sandbox { outline: 1px dashed red; }`;
      sandbox.append(s);
    },
    'style-attr'(i) {
      const d = document.createElement('div');
      d.setAttribute('style', `color: red; background: yellow; /* style attribute #${i} */`);
      d.textContent = `style attribute #${i}`;
      sandbox.append(d);
    },
    'inline-event-handler'(i) {
      const d = document.createElement('div');
      d.setAttribute('onclick', `window.__clicked = 'inline event handler #${i}'`);
      sandbox.append(d);
      d.click(); // the handler is compiled (and blocked) on its first dispatch
    },
    img(i) {
      const im = new Image();
      im.alt = '';
      im.src =
        `${TP}/images/some/very/long/path/segment/photo-1234567890.png` +
        `?user=alice&token=SECRET-TOKEN-0123456789&utm_source=demo&n=${i}#frag-${i}`;
      sandbox.append(im);
    },
    'img-crosssite'(i) {
      const im = new Image();
      im.alt = '';
      im.src = `${TP_LH}/img2/path.png?q=localhost&n=${i}`;
      sandbox.append(im);
    },
    iframe(i) {
      const f = document.createElement('iframe');
      f.src = `${TP}/frame.html?f=${i}&secret=frm#frame-${i}`;
      sandbox.append(f);
    },
    fetch(i) {
      fetch(`${TP}/api/data?x=${i}&secret=s3`).then(
        (r) => log('fetch', `answered ${r.status}`, i),
        (e) => log('fetch', `failed: ${e}`, i),
      );
    },
    eval(i) {
      try {
        eval(`window.__evalRan = "eval() argument #${i}: a string longer than forty characters"`);
        log('eval', 'ran');
      } catch (e) {
        log('eval', String(e));
      }
    },
    'new-function'(i) {
      try {
        new Function(`return "new Function body #${i}"`)();
        log('new-function', 'ran');
      } catch (e) {
        log('new-function', String(e));
      }
    },
    worker(i) {
      try {
        const url = URL.createObjectURL(new Blob([`postMessage(${i})`], { type: 'text/javascript' }));
        const w = new Worker(url);
        w.onmessage = () => log('worker', 'ran', i);
        w.onerror = () => log('worker', 'error event', i);
      } catch (e) {
        log('worker', String(e));
      }
    },
    'form-action'(i) {
      // Posted into the hidden iframe "sink" so the page stays; the navigation of that frame to the
      // third party is a frame-src violation of its own.
      const f = document.createElement('form');
      f.method = 'post';
      f.action = `${TP}/submit?form=${i}`;
      f.target = 'sink';
      f.innerHTML = '<input name="a" value="b">';
      sandbox.append(f);
      try {
        f.submit();
      } catch (e) {
        log('form-action', String(e));
      }
    },
  };

  function trigger(kind) {
    if (!kinds[kind]) throw new Error(`unknown kind ${kind}; one of ${Object.keys(kinds).join(', ')}`);
    const i = ++n;
    kinds[kind](i);
    log(kind, 'triggered');
    return i;
  }
  window.trigger = trigger;
  window.triggerKinds = Object.keys(kinds);

  // Many distinct violations in one task, as a broken deploy causes: see the note under the buttons.
  document.querySelector('button[data-burst]').addEventListener('click', (e) => {
    for (let k = +e.currentTarget.dataset.burst; k > 0; k--) trigger('img');
  });

  for (const b of document.querySelectorAll('button[data-trigger]')) {
    b.addEventListener('click', () => {
      if (b.dataset.trigger === 'all') for (const k of Object.keys(kinds)) trigger(k);
      else trigger(b.dataset.trigger);
    });
  }

  // At load: the violations that only page code can cause (the markup has the parser-inserted ones).
  fetch(`${TP}/api/data?x=1&secret=s3`).catch(() => {});
  try {
    eval('window.__evalRan = "eval() argument: a string that is longer than forty characters"');
  } catch {}
  for (let i = 0; i < 3; i++) {
    try {
      eval('1 + ' + i); // three distinct samples: three records
    } catch {}
  }
  for (let i = 0; i < 3; i++) {
    try {
      eval('2 + 2'); // the same violation three times: one native report, one record with count 3
    } catch {}
  }
  try {
    new Function('return "new Function body"')();
  } catch {}
  try {
    new Worker(URL.createObjectURL(new Blob(['postMessage(1)'], { type: 'text/javascript' })));
  } catch {}
  {
    const im = new Image();
    im.id = 'v-dyn-img';
    im.alt = '';
    im.src = `${TP}/dyn/created-by-script.png?d=1`;
    sandbox.append(im);
  }
  document.getElementById('v-onclick').click();
  try {
    // Firefox throws (an XPCOM exception) from submit() when form-action blocks it.
    document.getElementById('v-form').submit();
  } catch {}
  window.__demoReady = true;
})();
