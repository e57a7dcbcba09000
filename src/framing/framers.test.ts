import { test } from 'node:test'
import assert from 'node:assert/strict'
import { JsonScanner, MAX_DEPTH, ValueKind, type PrefixScanner } from './json-scanner.js'
import { SpanKeyer } from '../key/keyer.js'
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
function frame(format: InputFormat, text: string | Buffer, cuts: number[] = [], scanner: PrefixScanner = new JsonScanner([]), onError?: (e: InputError) => void): Seen {
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
  framer = format === 'ndjson' ? new NdjsonFramer(handler, 't') : new JsonFramer(scanner, handler, 't')
  const bytes = Buffer.isBuffer(text) ? text : Buffer.from(text)
  let at = 0
  for (const cut of [...cuts, bytes.length]) {
    if (cut > at) framer.push(Buffer.from(bytes.subarray(at, cut)))
    at = Math.max(at, cut)
  }
  try {
    framer.end()
  } catch (e) {
    if (onError === undefined || !(e instanceof InputError)) throw e
    onError(e)
  }
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

test('a truncated array is reported, not silently ended: its cut element one reject, the unclosed array an input error', () => {
  const cut = framedToEnd('[{"id":1},{"id":2,"x":"unfinish')
  assert.deepEqual(cut.seen.events, ['{"id":1}'])
  assert.deepEqual(cut.seen.rejects, ['2: invalid JSON: the input ends inside this element (cut short)'])
  assert.ok(cut.error instanceof InputError)
  assert.equal(cut.error.offset, 31)
  assert.match(cut.error.message, /^t: byte 31: input ended inside an array, inside element 2 \(missing '\]'\)$/)
})

/** Frames `text` in the given chunks, with JsonFramer over `scanner`, to its end; returns what was seen and what end() threw. */
function framedToEnd(text: string | Buffer, cuts: number[] = [], scanner: PrefixScanner = new JsonScanner([])): { seen: Seen; error: InputError | null } {
  let error: InputError | null = null
  const seen = frame('json', text, cuts, scanner, (e) => (error = e))
  return { seen, error }
}

/** An over-nested element (rejected, and read as one element whatever its brackets hold), between ordinary ones. */
const DEEP = `{"id":9,"d":${'['.repeat(MAX_DEPTH + 8)}"],{",1${']'.repeat(MAX_DEPTH + 8)}}`
const ELEMENTS = ['{"id":1}', '{"id":22,"s":"a\\"b"}', '{"id":3,"n":12345,"tags":["a","b"],"t":true}', DEEP, '{"id":4}']

test('an array cut at any point: each element read once, a cut element one reject, the open array one input error (issue 15, item 6)', () => {
  const whole = `[\n${ELEMENTS.join(',\n')}\n]\n`
  const starts: number[] = []
  for (const e of ELEMENTS) starts.push(whole.indexOf(e, starts.at(-1) ?? 0))
  const keyer = new SpanKeyer({ keyFields: ['id'], allowMissing: false, timeField: null })
  for (const scanner of [new JsonScanner([]), keyer.sharedScanner]) {
    for (let at = 1; at <= whole.lastIndexOf(']'); at++) {
      // Inside the over-nested element (slow to scan), every 17th cut and those near its ends and its depth limit.
      const inDeep = at - starts[3]
      if (inDeep > 16 && inDeep < DEEP.length - 16 && Math.abs(inDeep - 12 - MAX_DEPTH) > 2 && at % 17 !== 0) continue
      const text = whole.slice(0, at)
      const wholeBefore = ELEMENTS.filter((e, i) => starts[i] + e.length <= at)
      const cutInside = ELEMENTS.some((e, i) => starts[i] < at && at < starts[i] + e.length)
      for (const cuts of at % 11 === 0 ? [[], [Math.floor(at / 2)], [at - 1], Array.from({ length: Math.floor(at / 61) }, (_, i) => 61 * i + 61)] : [[], [at - 1]]) {
        const what = `cut at ${at} (…${JSON.stringify(text.slice(-10))}), ${cuts.length} chunk boundaries`
        const { seen, error } = framedToEnd(text, cuts, scanner)
        assert.deepEqual(seen.events, wholeBefore.filter((e) => e !== DEEP), what)
        // read = events + rejects: each element there once, the cut one included, and nothing for the open array.
        assert.equal(seen.events.length + seen.rejects.length, wholeBefore.length + (cutInside ? 1 : 0), `${what}: ${seen.rejects.join('; ')}`)
        if (wholeBefore.includes(DEEP)) assert.match(seen.rejects[0], /^4: invalid JSON: nesting deeper than 512/, what)
        if (cutInside) assert.match(seen.rejects.at(-1)!, /^\d: invalid JSON: (the input ends inside this element \(cut short\)|nesting deeper than 512)/, what)
        assert.ok(error instanceof InputError, `${what}: the open array is an input error`)
        assert.equal(error.offset, at, what)
        assert.match(error.message, /: input ended inside an array, .*\(missing '\]'\)$/, what)
      }
    }
  }
})

test('the error names where the input ended: before the first element, after one, after its comma, inside one; an export object too', () => {
  const message = (text: string) => framedToEnd(text).error?.message.replace(/^t: byte \d+: /, '')
  assert.equal(message('['), "input ended inside an array, before its first element (missing ']')")
  assert.equal(message('[{"id":1}'), "input ended inside an array, after element 1 (missing ']')")
  assert.equal(message('[{"id":1} ,\n '), "input ended inside an array, after the ',' following element 1 (missing ']')")
  assert.equal(message('[{"id":1},12'), "input ended inside an array, after element 2 (missing ']')")
  assert.equal(message('[{"id":1},{"id":-'), "input ended inside an array, inside element 2 (missing ']')")
  assert.equal(message('[{"a":"x\ny"},{"id":1}'), "input ended inside an array, where the end of element 1 (invalid JSON) was still not found (missing ']')")
  assert.equal(message('{"SELECT 1": [{"id":1}'), "input ended inside an array, after element 1 (missing ']' and the export object's '}')")
  assert.equal(message('{"SELECT 1": [{"id":1}]'), "input ended inside the export object (missing '}')")
  // Objects one after another have no structure around them: a cut one is a reject, and no error.
  const objects = framedToEnd('{\n "id": 1\n}\n{\n "id": 2,')
  assert.deepEqual(objects.seen.events, ['{"id":1}'])
  assert.deepEqual(objects.seen.rejects, ['2: invalid JSON: the input ends inside this element (cut short)'])
  assert.equal(objects.error, null)
})

test('an over-nested element in the middle or at the end of an array is one reject, and the elements after it are read (issue 15, item 6)', () => {
  const deepArray = `${'['.repeat(MAX_DEPTH + 1)}${']'.repeat(MAX_DEPTH + 1)}`
  for (const deep of [DEEP, deepArray]) {
    const keyer = new SpanKeyer({ keyFields: ['id'], allowMissing: false, timeField: null })
    for (const scanner of [new JsonScanner([]), keyer.sharedScanner]) {
      for (const text of [`[{"id":1},${deep},{"id":2},{"id":3}]`, `[{"id":1},{"id":2},\n${deep}\n]`]) {
        const whole = frame('json', text, [], scanner)
        for (let cut = 1; cut < text.length; cut += 29) {
          const seen = frame('json', text, [cut], scanner)
          assert.deepEqual(seen, whole, `split at ${cut}`)
        }
        assert.equal(whole.events.length + whole.rejects.length, text.startsWith('[{"id":1},{"id":2}') ? 3 : 4)
        assert.equal(whole.rejects.length, 1, whole.rejects.join('; '))
        assert.match(whole.rejects[0], /nesting deeper than 512/)
        assert.deepEqual(whole.events.slice(-1), text.endsWith('{"id":3}]') ? ['{"id":3}'] : ['{"id":2}'])
      }
    }
  }
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
