import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { anonymizeIp } from '../../packages/receiver/src/ip.js';

describe('anonymizeIp', () => {
  it('truncates IPv4 to its /24', () => {
    expect(anonymizeIp('203.0.113.77', 'truncate')).toBe('203.0.113.0');
  });

  it('truncates IPv6 to its /48, compressed or not', () => {
    expect(anonymizeIp('2001:db8:85a3:8d3:1319:8a2e:370:7348', 'truncate')).toBe('2001:db8:85a3::');
    expect(anonymizeIp('2001:0db8:0000:0001::1', 'truncate')).toBe('2001:db8::');
    expect(anonymizeIp('2001:db8::1', 'truncate')).toBe('2001:db8::');
    expect(anonymizeIp('fe80::1%eth0', 'truncate')).toBe('fe80::');
    expect(anonymizeIp('[2001:db8:1:2::3]', 'truncate')).toBe('2001:db8:1::');
    expect(anonymizeIp('::1', 'truncate')).toBe('::');
  });

  it('handles IPv4-mapped IPv6 as IPv4', () => {
    expect(anonymizeIp('::ffff:198.51.100.23', 'truncate')).toBe('198.51.100.0');
    expect(anonymizeIp('::FFFF:c633:6417', 'truncate')).toBe('198.51.100.0');
    expect(anonymizeIp('0:0:0:0:0:ffff:198.51.100.23', 'hash', 's')).toBe(anonymizeIp('198.51.100.23', 'hash', 's'));
  });

  it('hashes sha256(salt + ip) to 16 hex characters', () => {
    const expected = createHash('sha256').update('pepper203.0.113.77').digest('hex').slice(0, 16);
    expect(anonymizeIp('203.0.113.77', 'hash', 'pepper')).toBe(expected);
    expect(anonymizeIp('203.0.113.77', 'hash', 'other')).not.toBe(expected);
    expect(anonymizeIp('2001:db8::1', 'hash', 'p')).toMatch(/^[0-9a-f]{16}$/);
  });

  it('keeps the address as is in full mode and drops it in none mode', () => {
    expect(anonymizeIp('203.0.113.77', 'full')).toBe('203.0.113.77');
    expect(anonymizeIp('203.0.113.77', 'none')).toBeUndefined();
  });

  it('stores nothing for missing or unparseable addresses', () => {
    expect(anonymizeIp(undefined, 'truncate')).toBeUndefined();
    expect(anonymizeIp('', 'hash')).toBeUndefined();
    expect(anonymizeIp('not-an-ip', 'truncate')).toBeUndefined();
    expect(anonymizeIp('999.1.1.1', 'hash')).toBeUndefined();
  });
});
