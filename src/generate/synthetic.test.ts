import { test } from 'node:test'
import assert from 'node:assert/strict'
import { generate, type GenerateFormat, type GenerateOptions } from './synthetic.js'
import { ByteChunks, CHUNK_BYTES } from './byte-chunks.js'
import { IsoTimes } from './iso-time.js'

function run(opts: GenerateOptions): { chunks: Buffer[]; text: string; unique: number } {
  const chunks: Buffer[] = []
  const it = generate(opts)
  for (;;) {
    const next = it.next()
    if (next.done) return { chunks, text: Buffer.concat(chunks).toString('utf8'), unique: next.value.unique }
    chunks.push(next.value)
  }
}

/** Each event's raw text, as the format spells it. */
function rawEvents(text: string, format: GenerateFormat): string[] {
  if (format === 'ndjson') return text.split('\n').filter((l) => l !== '')
  const open = format === 'json' ? '[\n' : '{\n"SELECT * FROM product_events WHERE event_date = \'2025-04-02\'" : [\n'
  const close = format === 'json' ? '\n]\n' : '\n]\n}\n'
  assert.ok(text.startsWith(open) && text.endsWith(close), format)
  return text.slice(open.length, -close.length).split(/,\n(?=\t?\{)/)
}

/** What makes a retry the same event: r (19 random digits, one way or another) with the client and the time. */
function identity(raw: string): string {
  const e = JSON.parse(raw) as Record<string, unknown>
  return `${String(e.r)} ${String(e.client_id)} ${String(e.event_datetime)}`
}

test('generate: the unique count it returns is the number of distinct events, in every format, and every format holds the same events', () => {
  for (const dupRate of [0, 0.3, 0.9]) {
    const identities: string[][] = []
    for (const format of ['ndjson', 'json', 'export'] as const) {
      const { text, unique } = run({ count: 3000, dupRate, seed: 5, format })
      JSON.parse(format === 'ndjson' ? `[${text.trim().split('\n').join(',')}]` : text)
      const events = rawEvents(text, format)
      assert.equal(events.length, 3000, format)
      identities.push(events.map(identity))
      assert.equal(new Set(identities.at(-1)).size, unique, `${format} ${dupRate}`)
      if (dupRate === 0) assert.equal(unique, 3000)
    }
    assert.deepEqual(identities[1], identities[0])
    assert.deepEqual(identities[2], identities[0])
  }
})

test('generate: retries vary in spelling (member order and spacing, escapes, r as another number) and in their receive times', () => {
  const { text } = run({ count: 4000, dupRate: 0.5, seed: 3, format: 'ndjson' })
  const first = new Map<string, string>()
  const seen = { reordered: 0, escaped: 0, respelledR: 0, sameText: 0 }
  for (const raw of rawEvents(text, 'ndjson')) {
    const id = identity(raw)
    const original = first.get(id)
    if (original === undefined) {
      // A first occurrence is JSON.stringify's spelling.
      assert.equal(raw.replace(/"r":(\d+)/, '"r":"$1"'), JSON.stringify(JSON.parse(raw.replace(/"r":(\d+)/, '"r":"$1"'))))
      first.set(id, raw)
      continue
    }
    assert.notEqual(raw, original)
    const [a, b] = [JSON.parse(raw) as Record<string, unknown>, JSON.parse(original) as Record<string, unknown>]
    assert.notEqual(a.dt_add, b.dt_add)
    assert.deepEqual({ ...a, dt_add: 0, event_receive_timestamp: 0, event_receive_dt_str: 0, inserted_dt: 0 }, { ...b, dt_add: 0, event_receive_timestamp: 0, event_receive_dt_str: 0, inserted_dt: 0 })
    if (!raw.startsWith('{"platform":')) seen.reordered++
    if (raw.includes('\\/') && /"event_name":"\\u00/.test(raw)) seen.escaped++
    if (/"r":\d+0e-1,/.test(raw)) seen.respelledR++
    if (raw.startsWith('{"platform":') && !raw.includes('\\/')) seen.sameText++
  }
  for (const [kind, n] of Object.entries(seen)) assert.ok(n > 10, `${kind}: ${n}`)
})

test('generate: a seed gives the same bytes every time, another seed other bytes; the output comes in chunks of at most 1 MiB', () => {
  const a = run({ count: 1000, dupRate: 0.2, seed: 8, format: 'json' })
  assert.equal(a.text, run({ count: 1000, dupRate: 0.2, seed: 8, format: 'json' }).text)
  assert.notEqual(a.text, run({ count: 1000, dupRate: 0.2, seed: 9, format: 'json' }).text)
  assert.ok(a.chunks.length >= 4, `${a.chunks.length} chunks`)
  for (const chunk of a.chunks) assert.ok(chunk.length > 0 && chunk.length <= CHUNK_BYTES)
})

test('ByteChunks: text in UTF-8 (ASCII or not), pieces across a chunk boundary and pieces larger than a chunk', () => {
  const out = new ByteChunks()
  const pieces: Array<string | Buffer> = []
  const big = Buffer.alloc(CHUNK_BYTES + 10, 'x')
  for (let i = 0; i < 3000; i++) pieces.push(i % 3 === 0 ? Buffer.from(`bytes ${i} `.repeat(50)) : i % 3 === 1 ? `plain ${i}; ` : `näive é ${i} € 😀; `)
  pieces.splice(1500, 0, big, 'тест'.repeat(300_000))
  for (const p of pieces) {
    if (typeof p === 'string') out.text(p)
    else out.bytes(p)
  }
  const chunks = [...out.takeFull(), ...out.end()]
  assert.ok(chunks.length >= 3, `${chunks.length} chunks`)
  assert.deepEqual(Buffer.concat(chunks), Buffer.concat(pieces.map((p) => (typeof p === 'string' ? Buffer.from(p, 'utf8') : p))))
  assert.deepEqual(out.end(), [])
})

test('IsoTimes: the same text as toISOString', () => {
  const times = new IsoTimes()
  const at = [0, 1, 999, 86_399_999, 86_400_000, Date.UTC(2025, 3, 2, 23, 59, 59, 999), Date.UTC(2024, 1, 29, 12), 253402300799999]
  for (let i = 0; i < 20_000; i++) at.push(Math.floor(Math.random() * 4e12))
  for (const ms of at) {
    assert.equal(times.iso(ms), new Date(ms).toISOString())
    assert.equal(times.dateTime(ms, ' '), new Date(ms).toISOString().replace('T', ' ').slice(0, -1))
  }
})
