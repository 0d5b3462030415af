import { h } from '../dom.js';

/** Asked once per tab when the page was not opened from the URL the CLI prints. */
export function loginView(onToken: (token: string) => void, error?: string): HTMLElement {
  const input = h('input', { type: 'password', name: 'token', autocomplete: 'off', required: true, 'aria-label': 'Read token', placeholder: 'Read token' });
  const form = h(
    'form',
    {
      class: 'card login',
      onsubmit: (e: Event) => {
        e.preventDefault();
        if (input.value.trim()) onToken(input.value.trim());
      },
    },
    h('h1', null, 'csp-lens'),
    h('p', { class: 'muted' }, 'Paste the read token the receiver printed at start (or open the dashboard URL it printed). It is kept for this tab only.'),
    error ? h('p', { class: 'error', role: 'alert' }, error) : null,
    input,
    h('button', { type: 'submit', class: 'btn primary' }, 'Open dashboard'),
  );
  queueMicrotask(() => input.focus());
  return form;
}
