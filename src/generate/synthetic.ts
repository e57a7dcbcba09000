/** @module Synthetic events shaped like the seed's sample, with client retries mixed in, and the true unique count. */
import { ByteChunks } from './byte-chunks.js'
import { EventWriter, sampleMembers, type Fields } from './event-text.js'
import { IsoTimes } from './iso-time.js'

export type GenerateFormat = 'ndjson' | 'json' | 'export'

export interface GenerateOptions {
  count: number
  dupRate: number
  seed: number
  format: GenerateFormat
}

/** mulberry32: small, fast, reproducible across platforms. */
export function prng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const EVENT_NAMES = ['app_list', 'app_open', 'play_start', 'play_pause', 'play_stop', 'card_open', 'purchase', 'search', 'shelf_scroll', 'auth_success']
const OS = [
  ['Android', 'SDMC', 'DV9135'],
  ['Android', 'Xiaomi', 'MiBox4'],
  ['iOS', 'Apple', 'iPhone14,2'],
  ['Tizen', 'Samsung', 'UE55'],
  ['webOS', 'LG', 'OLED55'],
]

function hex(rand: () => number, n: number): string {
  let s = ''
  for (let i = 0; i < n; i++) s += '0123456789abcdef'[Math.floor(rand() * 16)]
  return s
}

function digits(rand: () => number, n: number): string {
  let s = String(1 + Math.floor(rand() * 9))
  for (let i = 1; i < n; i++) s += String(Math.floor(rand() * 10))
  return s
}

/** JSON text of a string that needs no escaping (see Fields). */
const quoted = (s: string) => `"${s}"`

/** What opens and closes each format, and what goes between events and after each. */
const FRAMES: Record<GenerateFormat, { open: string; separator: string; terminator: string; close: string }> = {
  ndjson: { open: '', separator: '', terminator: '\n', close: '' },
  json: { open: '[\n', separator: ',\n', terminator: '', close: '\n]\n' },
  export: { open: '{\n"SELECT * FROM product_events WHERE event_date = \'2025-04-02\'" : [\n', separator: ',\n', terminator: '', close: '\n]\n}\n' },
}

/** A random order of `n` indices (Fisher–Yates, from the end). */
function shuffled(n: number, rand: () => number): number[] {
  const order = Array.from({ length: n }, (_, i) => i)
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1))
    ;[order[i], order[j]] = [order[j], order[i]]
  }
  return order
}

/**
 * Yields the bytes of `count` events (uniques and retries), in chunks of about 1 MiB so that a
 * consumer can wait for each to drain; returns the number of unique events. A retry repeats one
 * of the last 1,000 unique events, in the same spelling, in another member order, or with escapes
 * (not in the export format, whose events all have its one shape). About 5 % of events carry `r`
 * as a JSON number; some of their retries spell it another way (`…0e-1`).
 */
export function* generate(opts: GenerateOptions): Generator<Buffer, { unique: number; total: number }> {
  const out = new ByteChunks()
  const writer = new EventWriter(sampleMembers(), out)
  const frame = FRAMES[opts.format]
  /** An event in the format's plain spelling. */
  const writePlain = (fields: Fields) => (opts.format === 'export' ? writer.exported(fields) : writer.compact(fields))
  const rand = prng(opts.seed)
  const clients = Array.from({ length: Math.max(1, Math.floor(opts.count / 20)) }, () => ({ id: hex(rand, 16), sid: digits(rand, 19), os: OS[Math.floor(rand() * OS.length)] }))
  const products = Array.from({ length: 200 }, () => `${hex(rand, 8)}-${hex(rand, 4)}-4${hex(rand, 3)}-a${hex(rand, 3)}-${hex(rand, 12)}`)
  /** `r`: the digits alone; `numericR`: whether r is written as a JSON number rather than a string. */
  const recent: Array<{ fields: Fields; r: string; numericR: boolean }> = []
  let clock = Date.UTC(2025, 3, 2, 9, 0, 0)
  let unique = 0
  const times = new IsoTimes()
  const iso = (ms: number) => times.iso(ms)
  const receivedAt = (ms: number) => ({
    dt_add: quoted(iso(ms)),
    event_receive_timestamp: String(Math.floor(ms / 1000)),
    // Microseconds: the ms and three more digits.
    event_receive_dt_str: quoted(times.dateTime(ms, ' ') + String(Math.floor((ms * 7) % 1000)).padStart(3, '0')),
  })
  out.text(frame.open)
  // The draws from rand, and their order, are those of the first version of this generator, so a
  // seed still gives the bytes it gave then (fixtures/ were made with it).
  for (let n = 0; n < opts.count; n++) {
    if (n > 0) out.text(frame.separator)
    clock += Math.floor(rand() * 2000)
    const retry = recent.length > 0 && rand() < opts.dupRate
    if (!retry) {
      const c = clients[Math.floor(rand() * clients.length)]
      const numericR = rand() < 0.05
      const name = EVENT_NAMES[Math.floor(rand() * EVENT_NAMES.length)]
      const stringR = numericR ? '' : digits(rand, 19)
      const product = products[Math.floor(rand() * products.length)]
      const price = name === 'purchase' ? 199 + Math.floor(rand() * 500) : 0
      // A 19-digit r as a JSON number is beyond doubles: it only ever exists as text here.
      const r = numericR ? digits(rand, 19) : stringR
      const at = iso(clock)
      const fields: Fields = {
        event_name: quoted(name),
        event_datetime: quoted(at),
        event_datetime_str: quoted(times.dateTime(clock + 3 * 3600_000, ' ').slice(0, 19)),
        event_date: quoted(at.slice(0, 10)),
        client_id: quoted(c.id),
        client_id_query: quoted(c.id),
        sid: quoted(c.sid),
        r: numericR ? r : quoted(r),
        product_id: quoted(product),
        os: quoted(c.os[0]),
        mnf: quoted(c.os[1]),
        mdl: quoted(c.os[2]),
        price: String(price),
        ...receivedAt(clock + 5000),
        inserted_dt: quoted(iso(clock + 9000)),
      }
      unique++
      recent.push({ fields, r, numericR })
      if (recent.length > 1000) recent.shift()
      writePlain(fields)
    } else {
      const orig = recent[Math.floor(rand() * recent.length)]
      const lag = 1000 + Math.floor(rand() * 600_000)
      const fields: Fields = { ...orig.fields, ...receivedAt(clock + lag), inserted_dt: quoted(iso(clock + lag + 4000)) }
      if (orig.numericR) {
        fields.r = rand() < 0.5 ? orig.r : `${orig.r}0e-1`
        writePlain(fields)
      } else {
        const variant = Math.floor(rand() * 3)
        // Drawn in the export format too, which writes no variant: every format draws the same numbers, so holds the same events.
        const order = variant === 1 ? shuffled(writer.memberCount, rand) : null
        if (opts.format === 'export' || variant === 0) writePlain(fields)
        else if (order !== null) writer.reordered(fields, order)
        else writer.escaped(fields)
      }
    }
    out.text(frame.terminator)
    yield* out.takeFull()
  }
  out.text(frame.close)
  yield* out.end()
  return { unique, total: opts.count }
}
