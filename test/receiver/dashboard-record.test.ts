// @vitest-environment happy-dom
import { describe, expect, it } from 'vitest';
import type { ViolationRecord } from '@csp-lens/schema';
import { recordCard } from '../../packages/receiver/src/dashboard/client/views/record.js';
import { policyView } from '../../packages/receiver/src/dashboard/client/policy.js';

const record: ViolationRecord = {
  id: 'r1',
  groupId: 'g1',
  documentURL: 'https://site.example/p',
  blockedURL: 'https://frames.example/embed',
  effectiveDirective: 'frame-src',
  disposition: 'enforce',
  category: 'external',
  severity: 'medium',
  count: 1,
  sources: { sdk: 1, reportUri: 0, reportTo: 1 },
  occurredAt: 1_800_000_000_000,
  firstReceivedAt: 1_800_000_000_000,
  lastReceivedAt: 1_800_000_000_000,
  clientIp: '198.51.100.0',
  page: { id: 'pv-victim', url: 'https://site.example/p#tab', release: 'evil' },
  element: { tag: 'iframe', selector: '#evil' },
};

describe('a record in the dashboard', () => {
  it('shows SDK context from another client than the browser’s report as that client’s claim', () => {
    const card = recordCard({ ...record, sdkClient: '203.0.113.0' });
    const side = card.querySelectorAll('.side')[1]!;
    expect(side.querySelector('h4')!.textContent).toBe('SDK context, as claimed');
    expect(side.querySelector('.note')!.textContent).toBe(
      'Another client sent this: the SDK event came from 203.0.113.0, the browser’s report from 198.51.100.0. What follows is the SDK’s claim, not a fact about that report.',
    );
  });

  it('shows SDK context from the report’s own client plainly', () => {
    const side = recordCard(record).querySelectorAll('.side')[1]!;
    expect(side.querySelector('h4')!.textContent).toBe('SDK context');
    expect(side.querySelector('.note')).toBeNull();
  });
});

describe('the Not stored panel', () => {
  it('says what the store let go of to stay within its bounds', async () => {
    const { unstoredPanel } = await import('../../packages/receiver/src/dashboard/client/views/coverage.js');
    const panel = unstoredPanel({
      filtered: {}, otherReports: {}, invalid: 0, sdkDropped: 0,
      limits: { evictedForSpace: 12, groupsPruned: 3, policiesPruned: 40, frozenEarly: 5, liveBytes: 3 * 1024 * 1024, maxLiveBytes: 64 * 1024 * 1024 },
    });
    expect(panel.querySelector('h3')!.textContent).toBe('Kept within bounds');
    expect(panel.textContent).toContain('Live content: 3 of 64 MiB.');
    const items = [...panel.querySelectorAll('ul')[1]!.querySelectorAll('li')].map((li) => li.textContent);
    expect(items).toEqual(['Archived early for space12', 'Groups let go3', 'Policies let go40', 'Made final early5']);
  });
});

describe('the violated policy in the dashboard', () => {
  const marked = (policy: string, effective: string) => {
    const view = policyView(policy, effective);
    return { note: view.querySelector('p')!.textContent, mark: view.querySelector('mark')?.textContent ?? null };
  };

  it('marks the directive that decided, by CSP3’s fallback list (script-src-elem → script-src → default-src)', () => {
    expect(marked("default-src 'self'; script-src 'self'; img-src *", 'script-src-elem')).toEqual({
      note: 'Violated: script-src-elem, which this policy does not set, so script-src applied',
      mark: "script-src 'self';",
    });
    expect(marked("default-src 'none'; img-src 'self'", 'worker-src').mark).toBe("default-src 'none';");
  });

  it('marks nothing for a directive without fallback that the policy lacks (form-action, frame-ancestors, webrtc)', () => {
    for (const d of ['form-action', 'frame-ancestors', 'webrtc']) expect(marked("default-src 'self'", d)).toEqual({ note: `Violated: ${d} (not found in this policy)`, mark: null });
  });
});
