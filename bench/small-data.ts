/**
 * @module Small events (about 160 B each) written by the bench itself: `kion-dedup generate` only
 * makes sample-shaped 5 KB events, and the memory goal needs up to 30M events (about 5 GB), so
 * the writer must be a tight loop. Every field is a function of the event's unique index, so a
 * retry is the same index written again, the files are the same for the same arguments, and the
 * unique count is known exactly without reading the file back.
 */
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import type { DataFormat, DataSet } from './data.js'
import { xorshift } from '../test/support/random.js'

/** Share of events that repeat an earlier event's six key fields, as in the 5 KB data (data.ts DUP_RATE). */
export const SMALL_REPEAT_RATE = 0.2
const SMALL_SEED = 13
/** A repeat copies one of the last RECENT unique events, as a client retry would. */
const RECENT = 1000
const EVENT_NAMES = ['play_start', 'play_pause', 'auth_success', 'app_list', 'purchase']
const START_MS = Date.UTC(2025, 3, 2, 9, 0, 0)
/** Writes are gathered into pieces of about this size: one syscall per piece, not per event. */
const PIECE_BYTES = 1 << 20

/** A 32-bit integer mix of the index, to give fields values that look random but are fixed. */
function mix(i: number): number {
  let h = Math.imul(i ^ 0x9e3779b9, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  return (h ^ (h >>> 16)) >>> 0
}

/**
 * The text of unique event `i`, received as the `seq`-th line. The key fields are functions of
 * `i` only, so a retry (another `seq`) has the same key. event_datetime grows with `i` (37 ms
 * apart), which alone makes every index's key distinct.
 */
function eventText(i: number, seq: number): string {
  const h = mix(i)
  const when = new Date(START_MS + i * 37).toISOString()
  const client = (h % 50_000).toString(16).padStart(16, '0')
  return `{"client_id":"${client}","event_datetime":"${when}","event_name":"${EVENT_NAMES[h % 5]}","product_id":"p${h % 200}","sid":"${mix(h) % 1e9}","r":"${h}","seq":${seq}}`
}

export interface SmallMeta {
  count: number
  unique: number
  bytes: number
}

/**
 * Writes `count` small events to `path` (NDJSON, or one JSON array with an event a line), a
 * share `repeatRate` of them repeats of a recent unique event. Returns the exact unique count.
 * The file appears under its name only when complete.
 */
export function writeSmallEvents(path: string, format: DataFormat, count: number, repeatRate: number): SmallMeta {
  const tmp = `${path}.tmp`
  const fd = openSync(tmp, 'w')
  const rand = xorshift(SMALL_SEED)
  let unique = 0
  let bytes = 0
  let piece: string[] = []
  let pieceBytes = 0
  const flush = () => {
    const buf = Buffer.from(piece.join(''), 'utf8')
    writeSync(fd, buf)
    bytes += buf.length
    piece = []
    pieceBytes = 0
  }
  try {
    const last = format === 'json' ? '\n' : ''
    if (format === 'json') piece.push('[\n')
    for (let seq = 0; seq < count; seq++) {
      const repeat = unique > 0 && repeatRate > 0 && rand() < repeatRate
      const i = repeat ? unique - 1 - Math.floor(rand() * Math.min(unique, RECENT)) : unique++
      const text = eventText(i, seq) + (format === 'json' ? (seq + 1 < count ? ',\n' : last) : '\n')
      piece.push(text)
      pieceBytes += text.length
      if (pieceBytes >= PIECE_BYTES) flush()
    }
    if (format === 'json') piece.push(']\n')
    flush()
  } catch (e) {
    closeSync(fd)
    rmSync(tmp, { force: true })
    throw e
  }
  closeSync(fd)
  renameSync(tmp, path)
  return { count, unique, bytes }
}

/** A small-event file in bench/data/, written when missing or when its recorded size no longer matches. */
export function ensureSmallData(root: string, format: DataFormat, count: number, repeatRate: number, log: (s: string) => void): DataSet {
  const dir = join(root, 'bench', 'data')
  mkdirSync(dir, { recursive: true })
  const path = join(dir, `small-n${count}-d${repeatRate}.${format}`)
  let meta: SmallMeta | null = null
  try {
    meta = JSON.parse(readFileSync(`${path}.meta.json`, 'utf8')) as SmallMeta
  } catch {
    meta = null
  }
  if (meta === null || meta.count !== count || !existsSync(path) || statSync(path).size !== meta.bytes) {
    const started = Date.now()
    meta = writeSmallEvents(path, format, count, repeatRate)
    writeFileSync(`${path}.meta.json`, JSON.stringify(meta) + '\n')
    log(`wrote ${path}: ${count} small events, ${meta.unique} unique, ${(meta.bytes / 1e6).toFixed(0)} MB in ${((Date.now() - started) / 1000).toFixed(1)} s`)
  }
  return { format, path, bytes: meta.bytes, count, unique: meta.unique }
}
