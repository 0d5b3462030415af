import type { NormalizedViolation } from '@csp-lens/schema';
import type { IngestBatch } from '../../packages/receiver/src/core/types.js';

// The erasure tests' violations (file store and PostgreSQL alike): three documents, two CDNs, four
// clients, one a second, so that every filter (document, client, before, group) selects a mix.

export const ERASE_T0 = Date.UTC(2026, 0, 5, 10, 0, 0);

export function shopViolation(i: number, over: Partial<NormalizedViolation> = {}): NormalizedViolation {
  return {
    stream: 'reportUri',
    documentURL: `https://shop.example/p${i % 3}`,
    effectiveDirective: 'img-src',
    blockedURL: `https://cdn${i % 2}.example/x${i}.png`,
    disposition: 'enforce',
    occurredAt: ERASE_T0 + i * 1000,
    receivedAt: ERASE_T0 + i * 1000,
    count: 1,
    category: 'external',
    severity: 'medium',
    clientIp: `198.51.100.${i % 4}`,
    ...over,
  };
}

export const batchOf = (vs: NormalizedViolation[]): IngestBatch => ({ violations: vs, otherReports: {}, invalid: 0 });
