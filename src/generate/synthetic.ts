/** @module Synthetic events shaped like the seed's sample, with client retries mixed in, and the true unique count. */
import { readFileSync } from 'node:fs'
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

/** The members that differ between events; every other member keeps the sample's value. */
const VARYING = [
  'event_name',
  'event_datetime',
  'event_datetime_str',
  'event_date',
  'client_id',
  'client_id_query',
  'sid',
  'r',
  'product_id',
  'os',
  'mnf',
  'mdl',
  'price',
  'dt_add',
  'event_receive_timestamp',
  'event_receive_dt_str',
  'inserted_dt',
] as const
type VaryingKey = (typeof VARYING)[number]

/**
 * One event's varying members, each as its JSON text. `r` is as written: a quoted string, or a
 * number spelled one way or another. Every value is made of digits, hex, ISO times and the names
 * in EVENT_NAMES and OS: nothing in them needs escaping, and none holds a '/'.
 */
type Fields = Record<VaryingKey, string>

/** A member of the sample: its key, and its value's JSON text, or null where the event's own value goes. */
interface Member {
  key: string
  fixedValue: string | null
}

function sampleMembers(): Member[] {
  const sample = JSON.parse(readFileSync(new URL('../../../fixtures/sample-event.json', import.meta.url), 'utf8')) as Record<string, unknown>
  const varying = new Set<string>(VARYING)
  const members = Object.keys(sample).map((key) => ({ key, fixedValue: varying.has(key) ? null : JSON.stringify(sample[key]) }))
  // A varying member the sample lacks goes last, as it would when set on a copy of the sample.
  for (const key of VARYING) if (!(key in sample)) members.push({ key, fixedValue: null })
  return members
}

/**
 * An event's text cut once into the fixed pieces between its varying members: writing an event is
 * then a few concatenations, where JSON.stringify of a copy of the 137-member sample took about
 * 90 µs on the bench's VM, the copy alone 70.
 */
interface Layout {
  /** One more than slots: pieces[0] + fields[slots[0]] + pieces[1] + … */
  pieces: string[]
  slots: VaryingKey[]
}

interface Style {
  open: string
  member: (key: string, value: string) => string
  separator: string
  close: string
  /** Applied to the fixed values only (the varying ones need nothing, see Fields). */
  escapeValue: (json: string) => string
}

const escapeSlashes = (json: string) => json.replaceAll('/', '\\/')

/** JSON.stringify's own spelling. */
const COMPACT: Style = { open: '{', member: (k, v) => `${JSON.stringify(k)}:${v}`, separator: ',', close: '}', escapeValue: (v) => v }
/** A database GUI's export: tabs, `"key" : value`, escaped slashes, inside the export's array. */
const EXPORT: Style = { open: '\t{\n', member: (k, v) => `\t\t${JSON.stringify(k)} : ${v}`, separator: ',\n', close: '\n\t}', escapeValue: escapeSlashes }

function compile(members: readonly Member[], style: Style): Layout {
  const pieces: string[] = []
  const slots: VaryingKey[] = []
  let text = style.open
  members.forEach((m, i) => {
    if (i > 0) text += style.separator
    if (m.fixedValue !== null) {
      text += style.member(m.key, style.escapeValue(m.fixedValue))
      return
    }
    // The member's text up to its value is fixed; the value starts a new piece.
    const marker = '\u0000'
    const [before, after] = style.member(m.key, marker).split(marker)
    pieces.push(text + before)
    slots.push(m.key as VaryingKey)
    text = after
  })
  pieces.push(text + style.close)
  return { pieces, slots }
}

function render(layout: Layout, fields: Fields): string {
  let text = layout.pieces[0]
  for (let i = 0; i < layout.slots.length; i++) text += fields[layout.slots[i]] + layout.pieces[i + 1]
  return text
}

/** The sample compiled once into every spelling an event or a retry is written in. */
class EventWriter {
  private readonly compact: Layout
  private readonly slashesEscaped: Layout
  private readonly exported: Layout
  /** `"key": value` for each fixed member, in the sample's order (null where the value varies), for retries written in another member order. */
  private readonly spacedMembers: Array<string | null>

  constructor(private readonly members: readonly Member[]) {
    this.compact = compile(members, COMPACT)
    this.slashesEscaped = compile(members, { ...COMPACT, escapeValue: escapeSlashes })
    this.exported = compile(members, EXPORT)
    this.spacedMembers = members.map((m) => (m.fixedValue === null ? null : `${JSON.stringify(m.key)}: ${m.fixedValue}`))
  }

  compactText(fields: Fields): string {
    return render(this.compact, fields)
  }

  exportText(fields: Fields): string {
    return render(this.exported, fields)
  }

  /**
   * A retry's text: compact (variant 0), another member order and spacing (1), or escapes (2):
   * '/' as '\/', and the event name's first letter as a \u escape. The shuffle draws from `rand`
   * even when the text is not wanted (`text` false, the export format), so that every format
   * draws the same numbers and holds the same events.
   */
  retryText(fields: Fields, rand: () => number, variant: number, text = true): string {
    if (variant === 1) {
      const order = this.members.map((_, i) => i)
      for (let i = order.length - 1; i > 0; i--) {
        const j = Math.floor(rand() * (i + 1))
        ;[order[i], order[j]] = [order[j], order[i]]
      }
      if (!text) return ''
      return '{' + order.map((i) => this.spacedMembers[i] ?? `${JSON.stringify(this.members[i].key)}: ${fields[this.members[i].key as VaryingKey]}`).join(', ') + '}'
    }
    if (!text) return ''
    if (variant === 0) return this.compactText(fields)
    const name = fields.event_name
    return render(this.slashesEscaped, { ...fields, event_name: `"\\u${name.charCodeAt(1).toString(16).padStart(4, '0')}${name.slice(2)}` })
  }
}

/**
 * Yields the text of `count` events (uniques and retries); returns the number of unique
 * events. A retry repeats one of the last 1,000 unique events. About 5 % of events carry `r`
 * as a JSON number; some of their retries spell it another way (`…0e-1`).
 */
export function* generate(opts: GenerateOptions): Generator<string, { unique: number; total: number }> {
  // Text is handed out in pieces of about 1 MiB, so a consumer can wait for its output to drain.
  const pending: string[] = []
  let pendingBytes = 0
  const write = (text: string) => {
    pending.push(text)
    pendingBytes += text.length
  }
  const rand = prng(opts.seed)
  const writer = new EventWriter(sampleMembers())
  const clients = Array.from({ length: Math.max(1, Math.floor(opts.count / 20)) }, () => ({ id: hex(rand, 16), sid: digits(rand, 19), os: OS[Math.floor(rand() * OS.length)] }))
  const products = Array.from({ length: 200 }, () => `${hex(rand, 8)}-${hex(rand, 4)}-4${hex(rand, 3)}-a${hex(rand, 3)}-${hex(rand, 12)}`)
  /** `r`: the digits alone; `numericR`: whether r is written as a JSON number rather than a string. */
  const recent: Array<{ fields: Fields; r: string; numericR: boolean }> = []
  let clock = Date.UTC(2025, 3, 2, 9, 0, 0)
  let unique = 0
  const texts: string[] = []
  /** `compact`: the event's text for ndjson and json; the export format writes its own from `fields`. */
  const emit = (compact: string, fields: Fields) => {
    if (opts.format === 'ndjson') write(compact + '\n')
    else if (opts.format === 'json') texts.push(compact)
    else texts.push(writer.exportText(fields))
    if (texts.length >= 1000) flush(false)
  }
  let first = true
  const flush = (last: boolean) => {
    if (opts.format === 'ndjson') return
    if (first) write(opts.format === 'json' ? '[\n' : '{\n"SELECT * FROM product_events WHERE event_date = \'2025-04-02\'" : [\n')
    if (texts.length) write((first ? '' : ',\n') + texts.join(',\n'))
    first = false
    texts.length = 0
    if (last) write(opts.format === 'json' ? '\n]\n' : '\n]\n}\n')
  }
  const times = new IsoTimes()
  const iso = (ms: number) => times.iso(ms)
  const receivedAt = (ms: number) => ({
    dt_add: quoted(iso(ms)),
    event_receive_timestamp: String(Math.floor(ms / 1000)),
    // Microseconds: the ms and three more digits.
    event_receive_dt_str: quoted(times.dateTime(ms, ' ') + String(Math.floor((ms * 7) % 1000)).padStart(3, '0')),
  })
  // The draws from rand, and their order, are those of the first version of this generator, so a
  // seed still gives the bytes it gave then (fixtures/ were made with it).
  for (let n = 0; n < opts.count; n++) {
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
      emit(writer.compactText(fields), fields)
    } else {
      const orig = recent[Math.floor(rand() * recent.length)]
      const lag = 1000 + Math.floor(rand() * 600_000)
      const fields: Fields = { ...orig.fields, ...receivedAt(clock + lag), inserted_dt: quoted(iso(clock + lag + 4000)) }
      if (orig.numericR) {
        fields.r = rand() < 0.5 ? orig.r : `${orig.r}0e-1`
        emit(writer.compactText(fields), fields)
      } else {
        const variant = Math.floor(rand() * 3)
        emit(writer.retryText(fields, rand, variant, opts.format !== 'export'), fields)
      }
    }
    if (pendingBytes >= 1 << 20) {
      yield pending.join('')
      pending.length = 0
      pendingBytes = 0
    }
  }
  flush(true)
  if (pending.length > 0) yield pending.join('')
  return { unique, total: opts.count }
}
