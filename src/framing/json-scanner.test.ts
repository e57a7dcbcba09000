import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readdirSync, readFileSync, existsSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { JsonScanner, ValueKind, MAX_DEPTH } from './json-scanner.js'

const SUITE = fileURLToPath(new URL('../../../../shared/json-test-suite/test_parsing/', import.meta.url))

test('JSONTestSuite: every y_ case is accepted, every n_ case rejected, no i_ case crashes', () => {
  assert.ok(existsSync(SUITE), `the conformance suite must be at ${SUITE} (shared/ beside the checkout)`)
  const files = readdirSync(SUITE)
  const scanner = new JsonScanner(['a'])
  let y = 0
  let n = 0
  for (const name of files) {
    const bytes = readFileSync(join(SUITE, name))
    // Each case is also scanned inside a larger buffer at an odd offset, as events sit inside chunks.
    const padded = Buffer.concat([Buffer.from('xyz'), bytes, Buffer.from('{"tail":1}')])
    const ok = scanner.scan(bytes, 0, bytes.length)
    const okPadded = scanner.scan(padded, 3, 3 + bytes.length)
    assert.equal(ok, okPadded, `${name}: same answer at another offset`)
    if (name.startsWith('y_')) {
      assert.ok(ok, `${name} must be accepted: ${scanner.errorMessage}`)
      y++
    } else if (name.startsWith('n_')) {
      assert.ok(!ok, `${name} must be rejected`)
      assert.ok(scanner.errorMessage.length > 0 && scanner.errorPos >= 0, `${name} has a reason and a position`)
      n++
    }
  }
  assert.ok(y >= 90 && n >= 180, `ran ${y} y_ and ${n} n_ cases`)
})

test('records the spans and kinds of wanted top-level members only', () => {
  const s = new JsonScanner(['id', 'n', 'flag', 'obj', 'gone'])
  const text = Buffer.from('{"nested":{"id":"inner"},"id":"a\\"b","n":-1.5e3,"flag":true,"obj":{"x":[1]},"other":null}')
  assert.ok(s.scan(text, 0, text.length))
  const span = (f: number) => text.subarray(s.start[f], s.end[f]).toString()
  assert.equal(span(0), '"a\\"b"')
  assert.equal(s.kind[0], ValueKind.String)
  assert.equal(s.escaped[0], 1)
  assert.equal(span(1), '-1.5e3')
  assert.equal(s.kind[1], ValueKind.Number)
  assert.equal(s.kind[2], ValueKind.True)
  assert.equal(s.kind[3], ValueKind.Object)
  assert.equal(s.kind[4], ValueKind.None)
})

test('a member name spelled with escapes still matches; a repeated member: the last one wins', () => {
  const s = new JsonScanner(['client_id'])
  const text = Buffer.from('{"client\\u005fid":"x","client_id":"y"}')
  assert.ok(s.scan(text, 0, text.length))
  assert.equal(text.subarray(s.start[0], s.end[0]).toString(), '"y"')
  const one = Buffer.from('{"client\\u005fid":"x"}')
  assert.ok(s.scan(one, 0, one.length))
  assert.equal(one.subarray(s.start[0], s.end[0]).toString(), '"x"')
})

test('long strings (the word-at-a-time loop) find quotes, escapes and control bytes at every alignment', () => {
  const s = new JsonScanner(['k'])
  for (let pad = 0; pad < 8; pad++) {
    for (let at = 0; at < 40; at++) {
      const body = 'x'.repeat(at) + '\\n' + 'y'.repeat(37)
      const good = Buffer.from(' '.repeat(pad) + `{"k":"${body}"}`)
      assert.ok(s.scan(good, 0, good.length), `escape at ${at}, pad ${pad}`)
      assert.equal(s.escaped[0], 1)
      const bad = Buffer.from(' '.repeat(pad) + `{"k":"${'x'.repeat(at)}\t${'y'.repeat(37)}"}`)
      assert.ok(!s.scan(bad, 0, bad.length), `raw tab at ${at}, pad ${pad}`)
      assert.match(s.errorMessage, /control character/)
      assert.equal(s.errorPos, pad + 6 + at)
    }
  }
})

test('nesting deeper than the limit is rejected, not a stack overflow', () => {
  const s = new JsonScanner([])
  const deep = Buffer.from('['.repeat(MAX_DEPTH + 5) + ']'.repeat(MAX_DEPTH + 5))
  assert.ok(!s.scan(deep, 0, deep.length))
  assert.match(s.errorMessage, /nesting/)
  const ok = Buffer.from('['.repeat(MAX_DEPTH - 1) + ']'.repeat(MAX_DEPTH - 1))
  assert.ok(s.scan(ok, 0, ok.length))
})

test('scanPrefix stops after one value and tells a truncated value from a broken one', () => {
  const s = new JsonScanner([])
  const two = Buffer.from('{"a":1},{"b":2}')
  assert.ok(s.scanPrefix(two, 0, two.length))
  assert.equal(s.valueEnd, 7)
  const cut = Buffer.from('{"a":"hal')
  assert.ok(!s.scanPrefix(cut, 0, cut.length))
  assert.ok(s.errorAtEnd)
  const broken = Buffer.from('{"a":tru,"b":1}')
  assert.ok(!s.scanPrefix(broken, 0, broken.length))
  assert.ok(!s.errorAtEnd)
  assert.equal(s.errorPos, 8)
})
