import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { anonymizeIp, clientKey } from '../../packages/receiver/src/http/ip.js';

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

describe('clientKey', () => {
  it('is the address for IPv4, and IPv4-mapped IPv6 counts as that IPv4', () => {
    expect(clientKey('203.0.113.77')).toBe('203.0.113.77');
    expect(clientKey('::ffff:203.0.113.77')).toBe('203.0.113.77');
  });

  it('is the /64 for IPv6 by default, however the address is written', () => {
    const key = clientKey('2001:db8:1:2::1');
    expect(key).toBe('2001:db8:1:2:0:0:0:0/64');
    for (const ip of ['2001:db8:1:2:ffff:ffff:ffff:ffff', '2001:0DB8:0001:0002:a:b:c:d', '[2001:db8:1:2::99]', '2001:db8:1:2::5%eth0']) {
      expect(clientKey(ip), ip).toBe(key);
    }
    expect(clientKey('2001:db8:1:3::1')).not.toBe(key);
  });

  it('takes any prefix length, bits not on a group boundary included', () => {
    expect(clientKey('2001:db8:1:2::1', 48)).toBe(clientKey('2001:db8:1:ffff::1', 48));
    expect(clientKey('2001:db8:1:2::1', 56)).toBe('2001:db8:1:0:0:0:0:0/56');
    expect(clientKey('2001:db8:1:1ff::1', 56)).toBe('2001:db8:1:100:0:0:0:0/56');
    expect(clientKey('2001:db8::1', 128)).toBe('2001:db8:0:0:0:0:0:1/128');
  });

  it('keeps unparseable input as its own client', () => {
    expect(clientKey('not-an-ip')).toBe('not-an-ip');
  });
});
