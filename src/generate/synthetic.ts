/** @module Synthetic events shaped like the seed's sample, with client retries mixed in, and the true unique count. */
import { readFileSync } from 'node:fs'

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

type Event = Record<string, unknown>

function template(): Event {
  return JSON.parse(readFileSync(new URL('../../../fixtures/sample-event.json', import.meta.url), 'utf8')) as Event
}

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

function iso(ms: number): string {
  return new Date(ms).toISOString()
}

function receiveStr(ms: number): string {
  return new Date(ms).toISOString().replace('T', ' ').replace('Z', '') + String(Math.floor((ms * 7) % 1000)).padStart(3, '0')
}

/** A retry's text: same key fields, other receive-side fields, and sometimes another serialisation. */
function serialise(e: Event, rand: () => number, variant: number): string {
  if (variant === 0) return JSON.stringify(e)
  if (variant === 1) {
    // Other member order and spacing.
    const keys = Object.keys(e)
    for (let i = keys.length - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1))
      ;[keys[i], keys[j]] = [keys[j], keys[i]]
    }
    return '{' + keys.map((k) => `${JSON.stringify(k)}: ${JSON.stringify(e[k])}`).join(', ') + '}'
  }
  // Escapes: '/' as '\/', and a key-field letter as a \u escape.
  return JSON.stringify(e)
    .replace(/\//g, '\\/')
    .replace(/"event_name":"([a-z])/, (_m, c: string) => `"event_name":"\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
}

/** Turns one compact event into the export shape: tabs, `"key" : value`, escaped slashes. */
function exportText(e: Event, indent: string, rawR: string | null): string {
  const members = Object.keys(e).map((k) => `${indent}\t${JSON.stringify(k)} : ${k === 'r' && rawR !== null ? rawR : JSON.stringify(e[k]).replace(/\//g, '\\/')}`)
  return `${indent}{\n${members.join(',\n')}\n${indent}}`
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
  const base = template()
  const clients = Array.from({ length: Math.max(1, Math.floor(opts.count / 20)) }, () => ({ id: hex(rand, 16), sid: digits(rand, 19), os: OS[Math.floor(rand() * OS.length)] }))
  const products = Array.from({ length: 200 }, () => `${hex(rand, 8)}-${hex(rand, 4)}-4${hex(rand, 3)}-a${hex(rand, 3)}-${hex(rand, 12)}`)
  const recent: Array<{ event: Event; numericR: boolean }> = []
  let clock = Date.UTC(2025, 3, 2, 9, 0, 0)
  let unique = 0
  const texts: string[] = []
  /** `rawR`: the r member's JSON text when it is a number (kept as written, never through a double). */
  const emit = (text: string, e: Event, rawR: string | null = null) => {
    if (opts.format === 'ndjson') write(text + '\n')
    else if (opts.format === 'json') texts.push(text)
    else texts.push(exportText(e, '\t', rawR))
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
  for (let n = 0; n < opts.count; n++) {
    clock += Math.floor(rand() * 2000)
    const retry = recent.length > 0 && rand() < opts.dupRate
    if (!retry) {
      const c = clients[Math.floor(rand() * clients.length)]
      const numericR = rand() < 0.05
      const name = EVENT_NAMES[Math.floor(rand() * EVENT_NAMES.length)]
      const e: Event = {
        ...base,
        event_name: name,
        event_datetime: iso(clock),
        event_datetime_str: iso(clock + 3 * 3600_000).replace('T', ' ').slice(0, 19),
        event_date: iso(clock).slice(0, 10),
        client_id: c.id,
        client_id_query: c.id,
        sid: c.sid,
        r: numericR ? Number.MAX_SAFE_INTEGER : digits(rand, 19),
        product_id: products[Math.floor(rand() * products.length)],
        os: c.os[0],
        mnf: c.os[1],
        mdl: c.os[2],
        price: name === 'purchase' ? 199 + Math.floor(rand() * 500) : 0,
        dt_add: iso(clock + 5000),
        event_receive_timestamp: Math.floor((clock + 5000) / 1000),
        event_receive_dt_str: receiveStr(clock + 5000),
        inserted_dt: iso(clock + 9000),
      }
      unique++
      let text = JSON.stringify(e)
      if (numericR) {
        // A 19-digit r as a JSON number: beyond doubles, so it is spliced in as text.
        const r = digits(rand, 19)
        e.r = r
        text = text.replace(`"r":${Number.MAX_SAFE_INTEGER}`, `"r":${r}`)
      }
      recent.push({ event: e, numericR })
      if (recent.length > 1000) recent.shift()
      emit(text, e, numericR ? (e.r as string) : null)
    } else {
      const orig = recent[Math.floor(rand() * recent.length)]
      const lag = 1000 + Math.floor(rand() * 600_000)
      const e: Event = {
        ...orig.event,
        dt_add: iso(clock + lag),
        event_receive_timestamp: Math.floor((clock + lag) / 1000),
        event_receive_dt_str: receiveStr(clock + lag),
        inserted_dt: iso(clock + lag + 4000),
      }
      let text: string
      if (orig.numericR) {
        const r = e.r as string
        e.r = Number.MAX_SAFE_INTEGER
        const spelled = rand() < 0.5 ? r : `${r}0e-1`
        text = JSON.stringify(e).replace(`"r":${Number.MAX_SAFE_INTEGER}`, `"r":${spelled}`)
        e.r = r
        emit(text, e, spelled)
      } else {
        emit(serialise(e, rand, Math.floor(rand() * 3)), e)
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
