import { describe, expect, it } from 'vitest';
import { parseBody } from '../../packages/receiver/src/core/parse.js';
import { ClientError } from '../../packages/receiver/src/core/errors.js';

const failure = (text: string, type = 'application/json') => {
  try {
    parseBody(text, type);
  } catch (e) {
    expect(e).toBeInstanceOf(ClientError);
    return { status: (e as ClientError).status, message: (e as ClientError).message };
  }
  throw new Error('expected parseBody to throw');
};

describe('parseBody', () => {
  it('parses JSON under every report content type, whatever the parameters', () => {
    for (const type of [
      'application/csp-report',
      'application/reports+json',
      'application/json',
      'application/json; charset=utf-8',
      'APPLICATION/JSON;charset="UTF-8"',
      'text/plain;charset=UTF-8',
    ]) {
      expect(parseBody('{"a":[1,"x"]}', type)).toEqual({ a: [1, 'x'] });
    }
  });

  it('answers 415 for any other content type, and for none', () => {
    expect(failure('{}', 'multipart/form-data; boundary=x')).toEqual({
      status: 415,
      message: expect.stringMatching(/^unsupported content type "multipart\/form-data": send application\/csp-report/),
    });
    expect(failure('{}', '').status).toBe(415);
    expect(failure('{}', 'application/xml').status).toBe(415);
  });

  it('reads form-urlencoded bodies that are raw JSON', () => {
    const raw = '{"csp-report":{"document-uri":"https://a.example/?x=1&y=2+3"}}';
    expect(parseBody(raw, 'application/x-www-form-urlencoded')).toEqual(JSON.parse(raw));
  });

  it('reads a single form field whose value is URL-encoded JSON, among other fields', () => {
    const value = JSON.stringify({ 'document-uri': 'https://a.example/?q=a+b&c=%' });
    const body = `site=shop&report=${encodeURIComponent(value)}&v=2`;
    expect(parseBody(body, 'application/x-www-form-urlencoded; charset=UTF-8')).toEqual(JSON.parse(value));
  });

  it('reads a whole URL-encoded JSON body (JSON as the only field name)', () => {
    expect(parseBody(encodeURIComponent('{"a":"b c"}'), 'application/x-www-form-urlencoded')).toEqual({ a: 'b c' });
  });

  it('survives malformed percent-escapes in form bodies', () => {
    expect(failure('a=%E0%A4%A&b=%ZZ', 'application/x-www-form-urlencoded')).toEqual({ status: 400, message: 'form body carries no JSON field' });
    expect(failure('a={"x":1}&b=[2]', 'application/x-www-form-urlencoded').message).toBe('form body carries 2 JSON fields, expected one');
  });

  it('rejects an empty body', () => {
    expect(failure('')).toEqual({ status: 400, message: 'empty body' });
    expect(failure(' \n\t ')).toEqual({ status: 400, message: 'empty body' });
    expect(failure('', 'application/x-www-form-urlencoded')).toEqual({ status: 400, message: 'empty body' });
  });

  it('rejects truncated or malformed JSON, saying so', () => {
    for (const text of ['{"csp-report":{"document-uri":"https://a', '[{"type":"csp-violation"},', "{'a':1}", 'NaN', '{"a":1}{"b":2}']) {
      expect(failure(text)).toEqual({ status: 400, message: expect.stringMatching(/^body is not valid JSON: /) });
    }
  });

  it('accepts a leading byte-order mark', () => {
    expect(parseBody('\uFEFF{"a":1}', 'application/json')).toEqual({ a: 1 });
  });

  it('rejects prototype keys anywhere in the body', () => {
    for (const key of ['__proto__', 'constructor', 'prototype']) {
      expect(failure(`{"csp-report":{"x":[{"${key}":{"polluted":true}}]}}`)).toEqual({
        status: 400,
        message: `body contains the forbidden key "${key}"`,
      });
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    // As values they are just strings.
    expect(parseBody('{"a":"__proto__"}', 'application/json')).toEqual({ a: '__proto__' });
  });

  it('rejects nesting deeper than 32 levels without overflowing the stack', () => {
    for (const open of ['[', '{"a":']) {
      const bomb = open.repeat(100_000) + '1' + (open === '[' ? ']' : '}').repeat(100_000);
      expect(failure(bomb)).toEqual({ status: 400, message: 'body nests deeper than 32 levels' });
      // Unclosed bombs too.
      expect(failure(open.repeat(1_000_000)).message).toBe('body nests deeper than 32 levels');
    }
    expect(parseBody('['.repeat(32) + ']'.repeat(32), 'application/json')).toBeInstanceOf(Array);
    expect(failure('['.repeat(33) + ']'.repeat(33)).status).toBe(400);
  });

  it('does not count brackets inside strings as nesting', () => {
    const text = JSON.stringify({ sample: '['.repeat(1000) + '\\"{{{' });
    expect(parseBody(text, 'application/json')).toEqual(JSON.parse(text));
  });

  it('takes U+FFFD from invalid UTF-8 as ordinary text', () => {
    expect(parseBody('{"s":"caf\uFFFD\uFFFD"}', 'application/csp-report')).toEqual({ s: 'caf\uFFFD\uFFFD' });
    expect(failure('\uFFFD\uFFFD').message).toMatch(/^body is not valid JSON/);
  });

  it('returns primitives as parsed, leaving "is it a report" to normalization', () => {
    expect(parseBody('42', 'application/json')).toBe(42);
    expect(parseBody('null', 'application/json')).toBeNull();
  });
});
