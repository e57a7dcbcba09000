import { test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createHash } from 'node:crypto'
import { JsonScanner, ValueKind } from './json-scanner.js'
import { KeyEncoder, digestInto } from '../key/canonical.js'
import { WasmScan, WasmScanner } from './wasm-scanner.js'
import { skipBalanced } from './json-framer.js'
import { xorshift } from '../../test/support/random.js'

const SUITE = fileURLToPath(new URL('../../../../shared/json-test-suite/test_parsing/', import.meta.url))
const SAMPLE = fileURLToPath(new URL('../../../../shared/sample-event.json', import.meta.url))
const FIELDS = ['a', 'id', '', 'client_id', 'event_datetime', 'event_name', 'product_id', 'sid', 'r', 'obj']

function fast(fields: readonly string[] = FIELDS): WasmScanner {
  const w = WasmScanner.create(fields)
  assert.ok(w !== null, 'the WebAssembly scanner is built by npm run build (dist/wasm/json-scanner.wasm)')
  return w
}

/**
 * Scans `buf[start, end)` with both scanners; the fast one must agree with the JavaScript one:
 * accept only what it accepts, with the same spans, and reject what it rejects. ASK_JS is
 * allowed only where the fast path says it leaves the case to JavaScript (escaped member
 * names, deep nesting). Returns the JavaScript scanner's verdict.
 */
function agree(w: WasmScanner, js: JsonScanner, buf: Buffer, start: number, end: number, prefix: boolean, what: string): boolean {
  w.load(buf, start, end)
  const answer = prefix ? w.scanPrefix(start, end) : w.scan(start, end)
  const ok = prefix ? js.scanPrefix(buf, start, end) : js.scan(buf, start, end)
  if (answer === WasmScan.AskJs) return ok
  assert.equal(answer === WasmScan.Ok, ok, `${what}: fast path ${answer === WasmScan.Ok ? 'accepts' : 'rejects'}, JavaScript ${ok ? 'accepts' : `rejects (${js.errorMessage})`}`)
  if (!ok) return ok
  assert.equal(w.topKind, js.topKind, `${what}: top kind`)
  assert.equal(w.valueEnd, js.valueEnd, `${what}: value end`)
  assert.equal(w.innerWhitespace, js.innerWhitespace, `${what}: inner white space`)
  for (let f = 0; f < js.kind.length; f++) {
    assert.equal(w.kind[f], js.kind[f], `${what}: kind of field ${f}`)
    if (js.kind[f] === ValueKind.None) continue
    assert.equal(w.start[f], js.start[f], `${what}: start of field ${f}`)
    assert.equal(w.end[f], js.end[f], `${what}: end of field ${f}`)
    assert.equal(w.escaped[f], js.escaped[f], `${what}: escaped flag of field ${f}`)
  }
  return ok
}

test('JSONTestSuite: the fast path accepts every y_ case, rejects every n_ case, and agrees with the JavaScript scanner on all', () => {
  assert.ok(existsSync(SUITE), `the conformance suite must be at ${SUITE}`)
  const w = fast()
  const js = new JsonScanner(FIELDS)
  let y = 0
  let n = 0
  for (const name of readdirSync(SUITE)) {
    const bytes = readFileSync(join(SUITE, name))
    // Inside a larger buffer at an odd offset too, as events sit inside slabs.
    const padded = Buffer.concat([Buffer.from('xyz'), bytes, Buffer.from('{"tail":1}')])
    const ok = agree(w, js, bytes, 0, bytes.length, false, name)
    assert.equal(agree(w, js, padded, 3, 3 + bytes.length, false, `${name} at offset 3`), ok)
    agree(w, js, padded, 3, padded.length, true, `${name} as a prefix`)
    w.load(bytes, 0, bytes.length)
    const answer = w.scan(0, bytes.length)
    if (name.startsWith('y_')) {
      assert.notEqual(answer, WasmScan.Invalid, `${name} must be accepted`)
      y++
    } else if (name.startsWith('n_')) {
      assert.notEqual(answer, WasmScan.Ok, `${name} must be rejected`)
      n++
    }
  }
  assert.ok(y >= 90 && n >= 180, `ran ${y} y_ and ${n} n_ cases`)
})

const MUTANTS = Buffer.from('"\\{}[]:,  \n\t\r0123456789-+.eEtrufalsn\x00\x1f\x7f\xff\xc3abu/')

test('mutated events: the fast path agrees with the JavaScript scanner on every one', () => {
  const w = fast()
  const js = new JsonScanner(FIELDS)
  const sample = readFileSync(SAMPLE)
  const seeds = [
    sample,
    Buffer.from('{"a":"x\\u00e9\\n","id":-0.5e+3,"":[1,{"b":[true,false,null]}],"obj":{"a":"inner"},"a":"last"}'),
    Buffer.from('[1, "two", {"a": 3}, [], {}, null]'),
    Buffer.from('  {\n  "client_id" : "c",\n  "r": 12 ,"sid":"\\"q\\""\n}  '),
  ]
  const rnd = xorshift(20261201)
  let accepted = 0
  let cases = 0
  for (let round = 0; round < 4000; round++) {
    const base = seeds[round % seeds.length]
    const buf = Buffer.from(base)
    const edits = 1 + Math.floor(rnd() * 3)
    let text = buf
    for (let e = 0; e < edits; e++) {
      const at = Math.floor(rnd() * text.length)
      const c = MUTANTS[Math.floor(rnd() * MUTANTS.length)]
      const kind = rnd()
      if (kind < 0.4) text[at] = c
      else if (kind < 0.7) text = Buffer.concat([text.subarray(0, at), Buffer.from([c]), text.subarray(at)])
      else text = Buffer.concat([text.subarray(0, at), text.subarray(at + 1)])
    }
    const what = `round ${round}: ${JSON.stringify(text.toString('latin1').slice(0, 120))}`
    if (agree(w, js, text, 0, text.length, false, what)) accepted++
    agree(w, js, text, 0, text.length, true, `${what} (prefix)`)
    cases++
  }
  // Both kinds must occur, or the comparison proved little.
  assert.ok(accepted > 100 && accepted < cases - 100, `${accepted} of ${cases} mutants were valid JSON`)
})

test('strings: quotes, escapes and control bytes are found at every position of a 16-byte vector', () => {
  const w = fast()
  const js = new JsonScanner(FIELDS)
  for (let len = 0; len < 48; len++) {
    for (const stop of ['"', '\\n', '\\u0041', '\x01', '\\x', '\x1f']) {
      for (let at = 0; at <= len; at++) {
        const body = 'x'.repeat(at) + stop + 'y'.repeat(len - at)
        const text = Buffer.from(`{"a":"${body}","id":1}`)
        agree(w, js, text, 0, text.length, false, `stop ${JSON.stringify(stop)} at ${at} of ${len}`)
        // Cut short: a string running to the end of the range must not read past it.
        agree(w, js, text, 0, 6 + at, false, `cut at ${at}`)
      }
    }
  }
})

test('an escaped member name and deep nesting are left to the JavaScript scanner, which decides them', () => {
  const w = fast()
  const text = Buffer.from('{"\\u0061":"x"}')
  w.load(text, 0, text.length)
  assert.equal(w.scan(0, text.length), WasmScan.AskJs)
  const deep = Buffer.from('['.repeat(600) + ']'.repeat(600))
  w.load(deep, 0, deep.length)
  assert.equal(w.scan(0, deep.length), WasmScan.AskJs)
  const js = new JsonScanner(['a'])
  assert.equal(js.scan(deep, 0, deep.length), false)
})

test('memory grows for a range larger than the module has; spans stay in the caller\'s coordinates', () => {
  const w = fast(['a'])
  const big = Buffer.from(`${' '.repeat(3 << 20)}{"a":"${'z'.repeat(2 << 20)}"}`)
  w.load(big, 3 << 20, big.length)
  assert.equal(w.scan(3 << 20, big.length), WasmScan.Ok)
  assert.equal(w.start[0], (3 << 20) + 5)
  assert.equal(w.end[0], big.length - 1)
})

test('SHA-256 in the module equals node:crypto for every length across the block and padding boundaries', () => {
  const w = fast()
  const rnd = xorshift(7)
  for (let len = 0; len <= 300; len++) {
    const data = Buffer.from(Array.from({ length: len }, () => Math.floor(rnd() * 256)))
    const want = createHash('sha256').update(data).digest().subarray(0, 16)
    assert.deepEqual(Buffer.from(w.sha256Head(data)), want, `length ${len}`)
  }
})

test('the module keys the common cases exactly as src/key/canonical.ts does, and leaves the rest to it', () => {
  const keyFields = ['a', 'b', 'c']
  const cases: Array<[string, boolean]> = [
    ['{"a":"x","b":"","c":"\u00e9\u4e2d"}', true],
    ['{"c":true,"b":false,"a":null}', true],
    ['{"a":"x","b":"y"}', false], // c missing: an error without allowMissing, null with it
    ['{"a":1,"b":"y","c":"z"}', false], // numbers: canonical form in JavaScript
    ['{"a":"x\\n","b":"y","c":"z"}', false], // escapes: decoded in JavaScript
    ['{"a":{},"b":"y","c":"z"}', false], // a wrong kind: JavaScript's error
  ]
  for (const allowMissing of [false, true]) {
    const w = fast(keyFields)
    const js = new JsonScanner(keyFields)
    const encoder = new KeyEncoder(keyFields, allowMissing)
    for (const [text, common] of cases) {
      const buf = Buffer.from(text)
      w.load(buf, 0, buf.length)
      assert.equal(w.scan(0, buf.length), WasmScan.Ok, text)
      const answer = w.key(keyFields.length, allowMissing)
      const missingAllowed = allowMissing && text === cases[2][0]
      assert.equal(answer === WasmScan.Ok, common || missingAllowed, `${text}, allowMissing ${allowMissing}`)
      if (answer !== WasmScan.Ok) continue
      assert.ok(js.scan(buf, 0, buf.length))
      const want = Buffer.alloc(16)
      digestInto(encoder.encode(js, buf), want, 0)
      assert.deepEqual(Buffer.from(w.digest), want, text)
    }
  }
})

/** The splitter must find what JsonFramer's skipBalanced finds, wherever it does not hand the element back (-2). */
function splitAgrees(w: WasmScanner, buf: Buffer, start: number, what: string): number {
  w.load(buf, 0, buf.length)
  const got = w.splitElement(start, buf.length)
  if (got !== -2) assert.equal(got, skipBalanced(buf, start), what)
  return got
}

test('array elements: the splitter ends each where skipBalanced does, across 64-byte blocks and backslash runs', () => {
  const w = fast()
  let handedBack = 0
  let cases = 0
  // Backslash runs of every length before a quote, at every offset around a block boundary.
  for (let run = 0; run <= 5; run++) {
    for (let at = 40; at < 140; at++) {
      const text = Buffer.from(`{"a":"${'x'.repeat(at)}${'\\'.repeat(run)}"${run % 2 === 1 ? 'tail"' : ''},"b":[1,{"c":"}"}]}, {"next":1}`)
      if (splitAgrees(w, text, 0, `run ${run} at ${at}`) === -2) handedBack++
      cases++
    }
  }
  // Mutants of the sample event inside an array, and cut short.
  const sample = readFileSync(SAMPLE).toString().trim()
  const rnd = xorshift(64)
  for (let round = 0; round < 3000; round++) {
    let text = Buffer.from(`${sample},${sample}]`)
    for (let e = 0; e < 1 + Math.floor(rnd() * 3); e++) {
      const at = Math.floor(rnd() * text.length)
      const c = MUTANTS[Math.floor(rnd() * MUTANTS.length)]
      if (rnd() < 0.5) text[at] = c
      else text = Buffer.concat([text.subarray(0, at), Buffer.from([c]), text.subarray(at)])
    }
    if (text[0] !== 0x7b) continue
    const cut = rnd() < 0.2 ? text.subarray(0, Math.floor(rnd() * text.length) + 1) : text
    if (splitAgrees(w, Buffer.from(cut), 0, `mutant ${round}`) === -2) handedBack++
    cases++
  }
  assert.ok(handedBack < cases / 2, `${handedBack} of ${cases} handed back to JavaScript`)
})

test('an element with a control byte in a string, or a backslash outside one, is handed back', () => {
  const w = fast()
  for (const text of ['{"a":"x\ny"}, 1', '{"a":1 \\ }, 1', '{"a":"\t"}']) {
    const buf = Buffer.from(text)
    w.load(buf, 0, buf.length)
    assert.equal(w.splitElement(0, buf.length), -2, JSON.stringify(text))
  }
})
