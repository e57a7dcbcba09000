import { test } from 'node:test'
import assert from 'node:assert/strict'
import { JsonScanner, ValueKind } from './json-scanner.js'
import { NdjsonFramer } from './ndjson-framer.js'
import { JsonFramer } from './json-framer.js'
import { detectFormat } from './detect.js'
import { compactJson } from './compact.js'
import type { FrameHandler, Framer, InputFormat } from '../framing.js'
import { InputError } from '../framing.js'

interface Seen {
  events: string[]
  rejects: string[]
  lines: number[]
}

/**
 * Frames `text` delivered in the given chunk sizes; returns what the handler saw. Spans are
 * validated here the way keying does (scan, then "is it an object"), so rejects show up too.
 */
function frame(format: InputFormat, text: string | Buffer, cuts: number[] = []): Seen {
  const seen: Seen = { events: [], rejects: [], lines: [] }
  const check = new JsonScanner(['id'])
  let framer: Framer
  const handler: FrameHandler = {
    span(buf, start, end) {
      const p = framer.position
      if (!check.scan(buf, start, end)) seen.rejects.push(`${p.index}: invalid JSON: ${check.errorMessage} (column ${check.errorPos - start + 1})`)
      else if (check.topKind !== ValueKind.Object) seen.rejects.push(`${p.index}: not a JSON object`)
      else {
        seen.events.push((check.innerWhitespace && format === 'json' ? compactJson(buf, start, end) : buf.subarray(start, end)).toString())
        seen.lines.push(p.line || p.index)
      }
    },
    reject(_buf, _start, _end, reason) {
      seen.rejects.push(`${framer.position.index}: ${reason}`)
    },
  }
  framer = format === 'ndjson' ? new NdjsonFramer(handler, 't') : new JsonFramer(new JsonScanner([]), handler, 't')
  const bytes = Buffer.isBuffer(text) ? text : Buffer.from(text)
  let at = 0
  for (const cut of [...cuts, bytes.length]) {
    if (cut > at) framer.push(Buffer.from(bytes.subarray(at, cut)))
    at = Math.max(at, cut)
  }
  framer.end()
  return seen
}

function everySplit(format: InputFormat, text: string): void {
  const whole = frame(format, text)
  for (let cut = 1; cut < text.length; cut++) {
    assert.deepEqual(frame(format, text, [cut]), whole, `split at ${cut}`)
  }
  const oneByte = Array.from({ length: text.length }, (_, i) => i + 1)
  assert.deepEqual(frame(format, text, oneByte), whole, 'one byte at a time')
}

test('NDJSON: blank lines skipped, CRLF accepted, bytes passed through, bad lines rejected and the stream goes on', () => {
  const text = '{"id":1, "x" : "a"}\r\n\n   \n{"id":2}\nnot json\n[1]\n{"id":3}'
  const seen = frame('ndjson', text)
  assert.deepEqual(seen.events, ['{"id":1, "x" : "a"}', '{"id":2}', '{"id":3}'])
  assert.deepEqual(seen.lines, [1, 4, 7])
  assert.equal(seen.rejects.length, 2)
  assert.match(seen.rejects[0], /invalid JSON: invalid literal \(expected null\) \(column 2\)/)
  assert.match(seen.rejects[1], /not a JSON object/)
  everySplit('ndjson', text)
})

test('JSON array: elements out, compacted when they span lines; a bad element rejected, the rest kept', () => {
  const text = '[\n {"id":1,\n  "s":"a b"},\n {"id":2, "bad": tru},\n 7,\n {"id":3}\n]\n'
  const seen = frame('json', text)
  assert.deepEqual(seen.events, ['{"id":1,"s":"a b"}', '{"id":3}'])
  assert.equal(seen.rejects.length, 2)
  assert.match(seen.rejects[0], /^2: invalid JSON/)
  assert.match(seen.rejects[1], /^3: not a JSON object/)
  everySplit('json', text)
})

test('the export shape: an object whose single member holds the array; tabs, " : " and \\/ escapes', () => {
  const text = '{\n"SELECT * FROM t" : [\n\t{\n\t\t"id" : "a\\/b",\n\t\t"n" : 1\n\t},\n\t{\n\t\t"id" : 2\n\t}\n]\n}\n'
  const seen = frame('json', text)
  assert.deepEqual(seen.events, ['{"id":"a\\/b","n":1}', '{"id":2}'])
  assert.equal(seen.rejects.length, 0)
  everySplit('json', text)
})

test('pretty-printed objects one after another are events too', () => {
  const seen = frame('json', '{\n  "id": 1\n}\n{\n  "id": 2\n}\n')
  assert.deepEqual(seen.events, ['{"id":1}', '{"id":2}'])
})

test('a truncated array is reported, not silently ended', () => {
  const seen = frame('json', '[{"id":1},{"id":2,"x":"unfinish')
  assert.deepEqual(seen.events, ['{"id":1}'])
  assert.equal(seen.rejects.length, 2)
  assert.match(seen.rejects[0], /unexpected end of input/)
  assert.match(seen.rejects[1], /missing '\]'/)
})

test('broken structure between elements stops with the position', () => {
  assert.throws(() => frame('json', '[{"id":1} {"id":2}]'), (e: unknown) => e instanceof InputError && e.offset === 10 && /expected ',' or '\]'/.test(e.message))
})

test('format detection', () => {
  const d = (s: string, eof = true) => detectFormat(Buffer.from(s), eof)
  assert.equal(d('{"a":1}\n{"a":2}\n'), 'ndjson')
  assert.equal(d('  [{"a":1}]'), 'json')
  assert.equal(d('{\n\t"a" : 1\n}'), 'json')
  assert.equal(d('{"SELECT x": [{"a":1}]}'), 'json')
  assert.equal(d('{"SELECT x"\t:\n[{"a":1}]}'), 'json')
  assert.equal(d('\ufeff{"a":1}'), 'ndjson')
  assert.equal(d('garbage\n{"a":1}'), 'ndjson')
  assert.equal(d(''), 'ndjson')
  assert.equal(d('   ', false), null)
  assert.equal(d('{"abc', false), null)
})

test('later objects whose first member holds an array are events, not another export wrapper', () => {
  const seen = frame('json', '{\n "id": 1\n}\n{"tags":["a"],"id":2}\n{\n "id": 3\n}\n')
  assert.deepEqual(seen.events, ['{"id":1}', '{"tags":["a"],"id":2}', '{"id":3}'])
})

test('a number cut by a chunk boundary is read whole', () => {
  const seen = frame('json', '[{"id":1},123,{"id":2}]', [12])
  assert.deepEqual(seen.events, ['{"id":1}', '{"id":2}'])
  assert.deepEqual(seen.rejects, ['2: not a JSON object'])
})

test('NDJSON: a UTF-8 byte order mark before the first line is skipped', () => {
  const seen = frame('ndjson', '\ufeff{"id":1}\n{"id":2}\n')
  assert.deepEqual(seen.events, ['{"id":1}', '{"id":2}'])
  assert.equal(seen.rejects.length, 0)
})

test('--max-event-bytes: an over-long line is rejected with its start and the stream goes on, in any chunking', () => {
  const long = `{"id":"${'x'.repeat(5000)}"}`
  const text = `{"id":1}\n${long}\n{"id":2}\n`
  for (const cuts of [[], [100], [20, 1000, 3000, 4990]]) {
    const seen: string[] = []
    const handler: FrameHandler = {
      span: (buf, start, end) => void seen.push(buf.subarray(start, end).toString()),
      reject: (_buf, start, end, reason) => void seen.push(`reject ${end - start}: ${reason}`),
    }
    const framer = new NdjsonFramer(handler, 't', 1000)
    let at = 0
    for (const cut of [...cuts, text.length]) {
      framer.push(Buffer.from(text.slice(at, cut)))
      at = cut
    }
    framer.end()
    assert.equal(seen.length, 3, String(cuts))
    assert.equal(seen[0], '{"id":1}')
    assert.match(seen[1], /^reject 1024: line longer than 1000 bytes/)
    assert.equal(seen[2], '{"id":2}')
  }
})
