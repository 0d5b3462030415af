// @vitest-environment happy-dom
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { GroupAdvice, PolicyProposal } from '@csp-lens/schema';
import { adviceCard } from '../../packages/receiver/src/dashboard/client/views/advice.js';
import { builderView } from '../../packages/receiver/src/dashboard/client/views/builder.js';
import { assemble } from '../../packages/receiver/src/core/proposal-header.js';

const HASH = "'sha256-mK9mfdNZ6s0OkQ7LaO8rVOQQ5P3MXWVfaPl9rlVFSe0='";
const PWN = '<img src=x onerror="window.__pwned=1">';

afterEach(() => {
  vi.unstubAllGlobals();
  sessionStorage.clear();
  document.body.innerHTML = '';
});

describe('the advice card of the group view', () => {
  it('shows the verdict, the edited directive with the addition marked, why, and the other fixes', () => {
    const a: GroupAdvice = {
      verdict: 'allow',
      summary: `Add ${HASH} to script-src.`,
      directive: 'script-src',
      add: [HASH],
      kind: 'hash',
      result: `script-src 'self' 'nonce-…' ${HASH}`,
      reasons: ['The SDK hashed this inline script: its hash allows exactly this text and nothing else.'],
      alternatives: ["Give the element the page's nonce instead."],
      basedOn: { records: 3, of: 7 },
    };
    const card = adviceCard(a);
    expect(card.querySelector('.verdict')!.textContent).toBe('Allow');
    expect(card.querySelector('.advice-summary')!.textContent).toBe(a.summary);
    expect(card.querySelector('pre.change')!.textContent).toBe(a.result);
    expect([...card.querySelectorAll('mark.added')].map((m) => m.textContent)).toEqual([HASH]);
    expect(card.querySelector('.advice-alternatives li')!.textContent).toBe(a.alternatives![0]);
    expect(card.textContent).toContain('Based on the 3 most recent of 7 records.');
  });

  it('renders what came from reports as text: a sample, a file, a reason', () => {
    const a: GroupAdvice = {
      verdict: 'fix-code',
      summary: 'The code evaluates a string: fix the code, not the policy.',
      reasons: [PWN],
      locations: [{ file: `https://x.example/${PWN}`, line: 3, count: 2, sample: PWN }],
      basedOn: { records: 1, of: 1 },
    };
    const card = adviceCard(a);
    document.body.append(card);
    expect(card.querySelectorAll('img')).toHaveLength(0);
    expect(card.querySelector('.locations code')!.textContent).toBe(`https://x.example/${PWN}:3`);
    expect(card.querySelector('.advice-reasons li')!.textContent).toBe(PWN);
  });
});

describe('the policy builder view', () => {
  const proposal = (): PolicyProposal => {
    const directives: PolicyProposal['directives'] = [
      {
        name: 'img-src',
        base: ["'self'"],
        sources: [
          { source: 'https://cdn.example', kind: 'host', verdict: 'allow', selected: true, reason: 'another site', count: 9, records: 3, documents: 2, clients: 3, firstSeen: 1, lastSeen: 2, groups: ['g1'] },
          { source: 'https://collect.evil.example', kind: 'host', verdict: 'investigate', selected: false, reason: 'one client', count: 1, records: 1, documents: 1, clients: 1, firstSeen: 1, lastSeen: 1, groups: ['g2'] },
        ],
        truncated: 4,
      },
    ];
    const endpoint = { reportUri: 'https://csp.example/csp/report', reportTo: { group: 'csp-lens', url: 'https://csp.example/csp/report' } };
    return {
      disposition: 'report',
      base: { hash: 'h', policy: "default-src 'self'; img-src 'self'" },
      otherPolicies: [],
      scanned: 4,
      directives,
      notes: [],
      rejected: { count: 1, examples: [JSON.stringify(PWN)] },
      endpoint,
      ...assemble("default-src 'self'; img-src 'self'", directives, endpoint),
    };
  };

  it('ticks the allowed sources, and rewrites the header and the cspHeader() options as sources are ticked', async () => {
    sessionStorage.setItem('csp-lens-token', 't');
    const asked: string[] = [];
    vi.stubGlobal('fetch', vi.fn(async (url: string) => (asked.push(url), new Response(JSON.stringify(proposal()), { status: 200 }))));
    const view = await builderView({ range: '24h', disposition: 'report' });
    document.body.append(view);
    expect(asked[0]).toMatch(/\/api\/policy\/proposal\?from=\d+&disposition=report$/);
    const header = () => view.querySelector('.header-out')!.textContent!;
    expect(header()).toBe(
      "Content-Security-Policy: default-src 'self'; img-src 'self' https://cdn.example; report-uri https://csp.example/csp/report; report-to csp-lens\n" +
        'Reporting-Endpoints: csp-lens="https://csp.example/csp/report"',
    );
    const boxes = [...view.querySelectorAll<HTMLInputElement>('table.sources input[type=checkbox]')];
    expect(boxes.map((b) => b.checked)).toEqual([true, false]);
    boxes[1]!.checked = true;
    boxes[1]!.dispatchEvent(new Event('change'));
    boxes[0]!.checked = false;
    boxes[0]!.dispatchEvent(new Event('change'));
    expect(header()).toContain("img-src 'self' https://collect.evil.example;");
    expect(JSON.parse(view.querySelector('.options-out')!.textContent!).directives['img-src']).toEqual(["'self'", 'https://collect.evil.example']);
    // Report-only: the same policy under the other header name.
    const select = view.querySelector<HTMLSelectElement>('select[aria-label="Header"]')!;
    select.value = 'ro';
    select.dispatchEvent(new Event('change'));
    expect(header()).toMatch(/^Content-Security-Policy-Report-Only: default-src 'self'; img-src 'self' https:\/\/collect\.evil\.example;/);
    expect(JSON.parse(view.querySelector('.options-out')!.textContent!).reportOnly).toBe(true);
    expect(view.textContent).toContain('4 more sources not shown');
    expect(view.textContent).toContain('1 source refused');
    expect(view.querySelectorAll('img')).toHaveLength(0);
  });
});
