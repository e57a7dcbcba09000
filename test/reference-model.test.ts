/** The CLI and the library against a plain reference model on random streams with retries in many spellings. */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { prng } from '../src/generate/synthetic.js'
import { cli } from './helpers.js'
import { Deduplicator } from 'kion-dedup'

const FIELDS = ['client_id', 'event_datetime', 'event_name', 'product_id', 'sid', 'r']

/** Values whose doubles are exact, so the model may compare parsed values; each with several spellings. */
const VALUES: Array<{ value: unknown; spellings: string[] }> = [
  { value: 'a', spellings: ['"a"', '"\\u0061"'] },
  { value: 'a/b', spellings: ['"a/b"', '"a\\/b"'] },
  { value: 'é', spellings: ['"é"', '"\\u00e9"', '"\\u00E9"'] },
  { value: '1', spellings: ['"1"'] },
  { value: 1, spellings: ['1', '1.0', '10e-1', '0.1E1'] },
  { value: 2.5, spellings: ['2.5', '25e-1', '2.50'] },
  { value: 0, spellings: ['0', '-0', '0.0'] },
  { value: true, spellings: ['true'] },
  { value: null, spellings: ['null'] },
  { value: '', spellings: ['""'] },
  { value: 'a|b', spellings: ['"a|b"'] },
  { value: 'b|c', spellings: ['"b|c"'] },
]

function modelKey(event: Record<string, unknown>): string {
  return JSON.stringify(FIELDS.map((f) => [typeof event[f], event[f]]))
}

/** A random NDJSON stream with retries in many spellings and a few broken lines, and the model's first occurrences. */
function randomStream(seed: number): { lines: string[]; expected: string[]; rejected: number } {
  const rand = prng(seed)
  const pick = <T>(xs: T[]) => xs[Math.floor(rand() * xs.length)]
  const lines: string[] = []
  const events: Array<Array<{ field: string; v: number }>> = []
  for (let n = 0; n < 3000; n++) {
    let members: Array<{ field: string; v: number }>
    if (events.length > 0 && rand() < 0.3) members = pick(events)
    else {
      // A small value space, so that independent events also collide on keys now and then.
      members = FIELDS.map((field) => ({ field, v: Math.floor(rand() * (field === 'r' ? VALUES.length : 3)) }))
      events.push(members)
    }
    const order = [...members, { field: 'dt_add', v: -1 }].sort(() => rand() - 0.5)
    const sp = rand() < 0.5 ? '' : ' '
    const body = order.map(({ field, v }) => `"${field}"${sp}:${sp}${v < 0 ? `"${n}"` : pick(VALUES[v].spellings)}`).join(`,${sp}`)
    lines.push(rand() < 0.02 ? `{${body}` : `{${body}}`)
  }
  const seen = new Set<string>()
  const expected: string[] = []
  let rejected = 0
  for (const line of lines) {
    let event: Record<string, unknown>
    try {
      event = JSON.parse(line) as Record<string, unknown>
    } catch {
      rejected++
      continue
    }
    const key = modelKey(event)
    if (!seen.has(key)) {
      seen.add(key)
      expected.push(line)
    }
  }
  return { lines, expected, rejected }
}

for (const [seed, threads] of [[1, 0], [2, 0], [3, 1], [4, 2], [5, 2], [6, 0]]) {
  test(`random stream ${seed}, ${threads} key threads: output equals the reference model's first occurrences, byte for byte`, () => {
    const { lines, expected, rejected } = randomStream(seed)
    const r = cli(['--quiet', '--threads', String(threads)], lines.join('\n') + '\n')
    assert.equal(r.status, 0, r.stderr)
    assert.equal(r.lines.length, expected.length)
    assert.deepEqual(r.lines, expected)
    assert.ok(rejected > 0 && expected.length < lines.length - rejected, 'the stream had rejects and duplicates')
  })
}

for (const seed of [7, 8]) {
  test(`library, random stream ${seed}: the unique events are the model's first occurrences; each parsed object gets its text's key`, async () => {
    const { lines, expected, rejected } = randomStream(seed)
    const byText = await Deduplicator.open()
    const results = await byText.checkMany(lines)
    await byText.close()
    assert.deepEqual(
      lines.filter((_, i) => results[i].status === 'unique'),
      expected,
    )
    assert.equal(results.filter((r) => r.status === 'rejected').length, rejected)
    // The same events as objects (what JSON.parse gives a caller): the same key, whatever the spelling was.
    const byObject = await Deduplicator.open()
    for (let i = 0; i < lines.length; i++) {
      let object: unknown
      try {
        object = JSON.parse(lines[i])
      } catch {
        continue
      }
      const r = await byObject.check(object as object)
      assert.equal(r.key, results[i].key, `line ${i + 1}: ${lines[i]}`)
      assert.equal(r.status, results[i].status, `line ${i + 1}`)
    }
    await byObject.close()
  })
}

/** Random JSON values for the non-key members: nesting, escapes, numbers, literals. */
function randomValue(rand: () => number, depth: number): unknown {
  const r = rand()
  if (depth < 3 && r < 0.15) return Array.from({ length: Math.floor(rand() * 4) }, () => randomValue(rand, depth + 1))
  if (depth < 3 && r < 0.3) return Object.fromEntries(Array.from({ length: Math.floor(rand() * 4) }, (_, i) => [`k${i}\n"\\`, randomValue(rand, depth + 1)]))
  if (r < 0.5) return ['', 'plain', 'quote " and \\ backslash', 'tab\tnew\nline', 'é ü 😀', '</script>'][Math.floor(rand() * 6)]
  if (r < 0.7) return Math.floor(rand() * 1e6) / 100
  return [true, false, null][Math.floor(rand() * 3)]
}

for (const [seed, threads, shape] of [[11, 0, 'array'], [12, 2, 'array'], [13, 0, 'export'], [14, 2, 'export']] as const) {
  test(`random JSON ${shape} ${seed}, ${threads} key threads: pretty-printed nested events, bad elements, output equals the model`, () => {
    const rand = prng(seed)
    const pick = <T>(xs: readonly T[]) => xs[Math.floor(rand() * xs.length)]
    const elements: string[] = []
    const expected: unknown[] = []
    const seen = new Set<string>()
    const pool: Array<Record<string, unknown>> = []
    for (let n = 0; n < 600; n++) {
      let event: Record<string, unknown>
      if (pool.length > 0 && rand() < 0.3) event = { ...pick(pool), extra: randomValue(rand, 0) }
      else {
        event = Object.fromEntries(FIELDS.map((f) => [f, pick(['a', 'b', 'c/d', 'é', 1, 2.5, true, null])]))
        event.payload = randomValue(rand, 0)
        pool.push(event)
      }
      // Pretty-printed with tabs or spaces, keys in random order.
      const keys = Object.keys(event).sort(() => rand() - 0.5)
      const indent = pick(['\t', '  '])
      let text = `{\n${keys.map((k) => `${indent}${JSON.stringify(k)} : ${JSON.stringify(event[k], null, pick([0, 1]) ? indent : undefined)}`).join(',\n')}\n}`
      if (rand() < 0.03) text = text.replace(/ : (true|false|null)/, ' : tru')
      if (rand() < 0.02) text = String(Math.floor(rand() * 100))
      elements.push(text)
      let parsed: unknown
      try {
        parsed = JSON.parse(text)
      } catch {
        continue
      }
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) continue
      const key = modelKey(parsed as Record<string, unknown>)
      if (!seen.has(key)) {
        seen.add(key)
        expected.push(parsed)
      }
    }
    const body = `[\n${elements.join(',\n')}\n]`
    const input = shape === 'array' ? body : `{\n"SELECT * FROM events" : ${body}\n}\n`
    const r = cli(['--quiet', '--threads', String(threads)], input)
    assert.equal(r.status, 0, r.stderr)
    assert.deepEqual(r.lines.map((l) => JSON.parse(l)), expected)
    assert.ok(r.lines.every((l) => !l.includes('\n')))
    assert.ok(expected.length < elements.length, 'the stream had duplicates or rejects')
  })
}
