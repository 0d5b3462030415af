import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { jsonBytes, utf8 } from '../../packages/receiver/src/core/tables.js';

const stringified = (v: unknown) => utf8(JSON.stringify(v));

// Any UTF-16 code unit, lone surrogates included: what a hostile report can put in a field.
const anyUnit = fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c));
const hostileString = fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.string({ unit: anyUnit }), fc.constantFrom('"', '\\', '\u2028', '\u0000', '😀', '\ud800'));
const value = fc.letrec((tie) => ({
  leaf: fc.oneof(hostileString, fc.double(), fc.integer(), fc.boolean(), fc.constant(null), fc.constant(undefined)),
  node: fc.oneof({ depthSize: 'small' }, tie('leaf'), fc.array(tie('node'), { maxLength: 5 }), fc.dictionary(hostileString, tie('node'), { maxKeys: 5 })),
})).node;

describe('jsonBytes', () => {
  it('is the UTF-8 size of JSON.stringify for any plain value, hostile strings and keys included', () => {
    fc.assert(
      fc.property(fc.dictionary(hostileString, value, { maxKeys: 8 }), (v) => {
        expect(jsonBytes(v)).toBe(stringified(v));
      }),
      { numRuns: 3000 },
    );
  });

  it('is the UTF-8 size of JSON.stringify for objects keyed like records (their key sizes are remembered)', () => {
    const keys = ['id', 'groupId', 'documentURL', 'sources', 'sdk', 'reportUri', 'page', 'sdkValues', 'sdkClient', 'count', 'toString', 'idx', 'i', ''];
    fc.assert(
      fc.property(fc.dictionary(fc.constantFrom(...keys), value, { maxKeys: 10 }), (v) => {
        expect(jsonBytes(v)).toBe(stringified(v));
      }),
      { numRuns: 2000 },
    );
  });

  it('counts what JSON.stringify writes for the edge values', () => {
    for (const v of [0, 9, 10, 99, 100, 1_700_000_000_000, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER + 2, 0.5, -3, {}, [], [undefined], { a: undefined }, { a: undefined, b: 1 }, -0, 1e21, 5e-324, NaN, -Infinity, [NaN], '', 'é', '\ud83d\ude00', '\udc00x', { 'k"\\': ['\u0007'] }]) {
      expect(jsonBytes(v), JSON.stringify(v)).toBe(stringified(v));
    }
  });
});
