/**
 * @module What a row of the events table holds beyond the event's bytes: its key fields as text
 * columns and its time (the partition it goes to), read from the event by the same scanner as
 * keying. Also the checks that tell, before a statement fails, what PostgreSQL cannot store.
 */
import { isUtf8 } from 'node:buffer'
import { JsonScanner, ValueKind, type ScanSpans } from '../../framing/json-scanner.js'
import { WasmScan, WasmScanner } from '../../framing/wasm-scanner.js'
import { decodeJsonString } from '../../key/canonical.js'
import { parseEventTime } from '../../key/event-time.js'
import { DAY_MS, FIRST_DAY, LAST_DAY, dayText } from './schema.js'

/** A unique event to store: its key digest, its text (one JSON value), and where it was read. */
export interface EventRow {
  digest: Uint8Array
  text: Buffer
  /** A file's path, `topic/partition`, or `http`. */
  origin: string
  /** The byte offset in the file, or the Kafka offset; null where there is none. */
  originOffset: number | bigint | null
}

/** Something not stored as an event, with why: kept in the rejects table. */
export interface RejectRow {
  origin: string
  originOffset: number | bigint | null
  reason: string
  event: Buffer
}

/** A row's columns, read from its event. */
export interface RowColumns {
  keys: Array<string | null>
  /** Milliseconds since the epoch. */
  time: number
  day: number
}

export interface RowRules {
  keyFields: readonly string[]
  /** The field whose time places the row in a day's partition (the event clock's field). */
  timeField: string
  /** Rows of days that ended longer ago than this are refused (their partition is dropped); null keeps every day. */
  retentionMs: number | null
  now: () => number
}

export class RowReader {
  private readonly scanner: JsonScanner
  /** The keyer's WebAssembly fast path: it accepts exactly what `scanner` accepts; null where unavailable. */
  private readonly fast: WasmScanner | null
  private spans: ScanSpans
  private readonly timeSlot: number

  constructor(private readonly rules: RowRules) {
    const fields = [...rules.keyFields]
    let slot = fields.indexOf(rules.timeField)
    if (slot < 0) {
      slot = fields.length
      fields.push(rules.timeField)
    }
    this.timeSlot = slot
    this.scanner = new JsonScanner(fields)
    this.fast = WasmScanner.create(fields)
    this.spans = this.scanner
  }

  /** The row's columns, or why PostgreSQL (or the table's partitions) cannot take it. */
  read(text: Buffer): RowColumns | string {
    if (!isUtf8(text)) return 'not valid UTF-8: PostgreSQL keeps text as UTF-8 and refuses it'
    if (!this.scan(text)) return 'not a JSON object'
    const s = this.spans
    const keyCount = this.rules.keyFields.length
    const keys: Array<string | null> = new Array(keyCount)
    for (let f = 0; f < keyCount; f++) {
      const v = this.valueOf(text, f)
      if (v !== null && v.includes('\u0000')) return `key field "${this.rules.keyFields[f]}" holds U+0000, which a PostgreSQL text column cannot store`
      keys[f] = v
    }
    const field = this.rules.timeField
    const kind = s.kind[this.timeSlot]
    const raw = this.valueOf(text, this.timeSlot)
    if (raw === null || (kind !== ValueKind.String && kind !== ValueKind.Number)) return `"${field}" is ${kind === ValueKind.None ? 'missing' : 'not a time'}: no day partition to store the event in`
    const time = parseEventTime(raw, kind === ValueKind.Number)
    if (Number.isNaN(time)) return `"${field}" ${JSON.stringify(raw.slice(0, 64))} is not a time (ISO 8601 or epoch seconds/ms): no day partition to store the event in`
    const day = Math.floor(time / DAY_MS)
    if (day < FIRST_DAY || day > LAST_DAY) return `"${field}" ${JSON.stringify(raw.slice(0, 64))} is outside the years 1000-9999 that day partitions cover`
    const keep = this.rules.retentionMs
    if (keep !== null && (day + 1) * DAY_MS <= this.rules.now() - keep) return `its day ${dayText(day)} is past --pg-retention: that day's partition is dropped`
    return { keys, time, day }
  }

  /** Scans the event (valid JSON already: keyed before); false unless it is an object. */
  private scan(text: Buffer): boolean {
    const fast = this.fast
    if (fast !== null) {
      fast.load(text, 0, text.length)
      if (fast.scan(0, text.length) === WasmScan.Ok) {
        this.spans = fast
        return fast.topKind === ValueKind.Object
      }
    }
    this.spans = this.scanner
    return this.scanner.scan(text, 0, text.length) && this.scanner.topKind === ValueKind.Object
  }

  private valueOf(text: Buffer, f: number): string | null {
    const s = this.spans
    const start = s.start[f]
    const end = s.end[f]
    switch (s.kind[f]) {
      case ValueKind.String:
        return s.escaped[f] === 0 ? text.toString('utf8', start + 1, end - 1) : decodeJsonString(text, start, end)
      case ValueKind.Number:
        return text.toString('latin1', start, end)
      case ValueKind.True:
        return 'true'
      case ValueKind.False:
        return 'false'
      default:
        return null
    }
  }
}
