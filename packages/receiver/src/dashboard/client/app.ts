import { AuthError, clearToken, setToken, takeToken } from './api.js';
import { loadOverview } from './data.js';
import { h, mount } from './dom.js';
import { readView, writeView, type View } from './state.js';
import { detailView, loadGroup } from './views/detail.js';
import { builderView, isBuilder, openBuilder } from './views/builder.js';
import { loadSignals } from './signals.js';
import { loginView } from './views/login.js';
import { overviewView } from './views/overview.js';

const root = document.getElementById('app') as HTMLElement;
const main = h('main', { class: 'content', 'aria-live': 'polite' });
const updated = h('span', { class: 'muted small updated' });
// Renders can overlap (a click during a load): only the latest one may write to the page.
let generation = 0;

function shell(): void {
  const bar = h(
    'header',
    { class: 'topbar' },
    h('div', { class: 'brand' }, h('span', { class: 'logo', 'aria-hidden': 'true' }, '◉'), 'csp-lens', h('span', { class: 'muted' }, 'CSP violations')),
    h(
      'div',
      { class: 'actions' },
      updated,
      h('button', { type: 'button', class: 'btn', onclick: openBuilder }, 'Policy builder'),
      h('button', { type: 'button', class: 'btn', onclick: () => render() }, 'Refresh'),
      h('button', { type: 'button', class: 'btn link', onclick: () => (clearToken(), login()) }, 'Sign out'),
    ),
  );
  mount(root, bar, main);
}

function login(error?: string): void {
  generation++;
  mount(root, h('main', { class: 'content narrow' }, loginView((t) => (setToken(t), shell(), render()), error)));
}

function go(view: View, push = false): void {
  writeView(view, push);
  void render();
}

async function render(): Promise<void> {
  const mine = ++generation;
  const view = readView();
  main.classList.add('loading');
  try {
    const back = () => (history.length > 1 && history.state?.fromList ? history.back() : go({ ...view, group: '' }));
    const content = isBuilder()
      ? await builderView()
      : view.group
      ? await Promise.all([loadGroup(view.group), loadSignals()]).then(([d, s]) => detailView(d, { back, refresh: () => void render() }, s.groups[view.group]))
      : overviewView(view, await loadOverview(view), { change: (v) => go(v), open: (id) => openGroup(view, id) });
    if (mine !== generation) return;
    mount(main, content);
    updated.textContent = `Updated ${new Date().toLocaleTimeString()}`;
    if (view.group) window.scrollTo(0, 0);
  } catch (e) {
    if (mine !== generation) return;
    if (e instanceof AuthError) {
      clearToken();
      login(e.message === 'no token' ? undefined : 'That token was refused. Paste the current read token.');
      return;
    }
    mount(
      main,
      h('div', { class: 'card error', role: 'alert' }, `Could not load: ${(e as Error).message}`),
      view.group ? h('button', { type: 'button', class: 'btn link', onclick: () => go({ ...view, group: '' }) }, '← All groups') : null,
    );
  } finally {
    main.classList.remove('loading');
  }
}

function openGroup(view: View, id: string): void {
  writeView({ ...view, group: id }, true, { fromList: true });
  void render();
}

addEventListener('popstate', () => void render());
if (takeToken()) {
  shell();
  void render();
} else login();
