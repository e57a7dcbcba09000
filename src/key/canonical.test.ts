import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { JsonScanner } from '../framing/json-scanner.js'
import { KeyEncoder, KeyError, canonicalNumber, digestInto, digestHex, DEFAULT_KEY_FIELDS } from './canonical.js'
import { SpanKeyer } from './keyer.js'
import { Slab, SlabStatus } from './slab.js'

const FIELDS = ['a', 'b']

function keyOf(text: string, fields: readonly string[] = FIELDS, allowMissing = false): string {
  const scanner = new JsonScanner(fields)
  const buf = Buffer.from(text)
  assert.ok(scanner.scan(buf, 0, buf.length), scanner.errorMessage)
  const enc = new KeyEncoder(fields, allowMissing).encode(scanner, buf)
  const out = new Uint8Array(16)
  digestInto(enc, out, 0)
  return digestHex(out)
}

test('canonical numbers: equal decimal values, equal text; never through a double', () => {
  const same = [
    ['1', '1.0', '1e0', '10e-1', '0.1e1', '1.000E+0'],
    ['0', '-0', '0.0', '0e10', '-0.000e-5'],
    ['1500', '1.5e3', '15e2', '1500.00'],
    ['-0.25', '-25e-2', '-2.5E-1'],
    ['5862759761743585305', '5862759761743585305.0', '58627597617435853050e-1'],
  ]
  for (const group of same) {
    const texts = new Set(group.map(canonicalNumber))
    assert.equal(texts.size, 1, `${group.join(' ')} → ${[...texts].join(' ')}`)
  }
  assert.equal(canonicalNumber('1500'), '15e2')
  assert.equal(canonicalNumber('-0.25'), '-25e-2')
  assert.notEqual(canonicalNumber('5862759761743585305'), canonicalNumber('5862759761743585306'))
  assert.equal(canonicalNumber('1e99999999999999999999'), '1e99999999999999999999')
})

test('same key: other member order, white space, escapes, other non-key fields', () => {
  const base = keyOf('{"a":"x/y","b":1,"c":1}')
  assert.equal(keyOf('{ "c" : 2, "b" : 1.0, "a" : "x\\/y" }'), base)
  assert.equal(keyOf('{"b":10e-1,"a":"\\u0078/y"}'), base)
})

test('different key: any key value different, a string never equals a number, no delimiter collisions', () => {
  assert.notEqual(keyOf('{"a":"1","b":1}'), keyOf('{"a":1,"b":1}'))
  assert.notEqual(keyOf('{"a":"a|b","b":"c"}'), keyOf('{"a":"a","b":"b|c"}'))
  assert.notEqual(keyOf('{"a":"","b":"ab"}'), keyOf('{"a":"a","b":"b"}'))
  assert.notEqual(keyOf('{"a":true,"b":null}'), keyOf('{"a":null,"b":true}'))
  assert.notEqual(keyOf('{"a":"x","b":1}'), keyOf('{"a":"x","b":2}'))
  assert.notEqual(keyOf('{"a":"null","b":1}'), keyOf('{"a":null,"b":1}'))
})

test('lone surrogates stay distinct (no U+FFFD folding)', () => {
  assert.notEqual(keyOf('{"a":"\\ud800","b":1}'), keyOf('{"a":"\\ud801","b":1}'))
  assert.notEqual(keyOf('{"a":"\\ud800","b":1}'), keyOf('{"a":"\\ufffd","b":1}'))
  assert.equal(keyOf('{"a":"\\ud83d\\ude00","b":1}'), keyOf('{"a":"😀","b":1}'))
})

test('missing or structured key fields are errors; --allow-missing reads missing as null', () => {
  assert.throws(() => keyOf('{"a":"x"}'), (e: unknown) => e instanceof KeyError && /"b" is missing/.test(e.message))
  assert.throws(() => keyOf('{"a":"x","b":{"c":1}}'), (e: unknown) => e instanceof KeyError && /object/.test(e.message))
  assert.throws(() => keyOf('{"a":"x","b":[1]}'), (e: unknown) => e instanceof KeyError && /array/.test(e.message))
  assert.equal(keyOf('{"a":"x"}', FIELDS, true), keyOf('{"a":"x","b":null}'))
})

test('the Python reference implementation computes the same digests', () => {
  const events = [
    '{"client_id":"46cfe3e87e0c097a","event_datetime":"2025-04-02T09:15:05.000Z","event_name":"app_list","product_id":"328da3b0-7623-443c-a3bd-dbc5a9222e75","sid":"8772092941743208318","r":"5862759761743585305"}',
    '{"client_id":"c\\u00e9\\/x","event_datetime":null,"event_name":true,"product_id":false,"sid":1.50e1,"r":5862759761743585305}',
    '{"client_id":"\\ud800","event_datetime":"","event_name":"😀","product_id":"a|b","sid":-0.0,"r":1E400}',
  ]
  const script = fileURLToPath(new URL('../../../test/reference/kion_key.py', import.meta.url))
  const py = spawnSync('python3', [script], { input: events.join('\n') + '\n', encoding: 'utf8' })
  assert.equal(py.status, 0, py.stderr)
  const expected = events.map((e) => keyOf(e, DEFAULT_KEY_FIELDS))
  assert.deepEqual(py.stdout.trim().split('\n'), expected)
})

test('an event that is not UTF-8 has no key, in kion-dedup and in the Python reference alike (else \\xff\\n and \\xfe\\n would share one)', () => {
  const event = (bad: number) => Buffer.concat([Buffer.from('{"client_id":"u","event_datetime":"d","event_name":"e","product_id":"p","sid":"s","r":"'), Buffer.from([bad]), Buffer.from('\\n"}')])
  const keyer = new SpanKeyer({ keyFields: DEFAULT_KEY_FIELDS, allowMissing: false, timeField: null })
  for (const bytes of [event(0xff), event(0xfe)]) {
    const slab = new Slab(4096, 4)
    slab.append(bytes, 0, bytes.length)
    keyer.keyRange(slab.bytes, slab.starts, slab.ends, slab.results, 0, 1, slab.reasons)
    assert.equal(slab.results.status[0], SlabStatus.Rejected)
    assert.match(slab.reasons[0]?.[1] ?? '', /not UTF-8 \(byte 0xf[ef]\)/)
    assert.equal(slab.results.errorAt[0], 87)
  }
  const script = fileURLToPath(new URL('../../../test/reference/kion_key.py', import.meta.url))
  const py = spawnSync('python3', [script], { input: Buffer.concat([event(0xff), Buffer.from('\n'), event(0xfe), Buffer.from('\n')]), encoding: 'utf8' })
  assert.equal(py.status, 0, py.stderr)
  assert.deepEqual(py.stdout.trim().split('\n'), ['invalid', 'invalid'])
})
