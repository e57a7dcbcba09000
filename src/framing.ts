/** @module The framing interface: a byte stream in, one callback per event (or reject) out. */
import type { JsonScanner } from './framing/json-scanner.js'

export type InputFormat = 'ndjson' | 'json'

/** Where the current event sits; one mutable object per framer, read by the handler during its callback. */
export interface EventPosition {
  /** The file name, or '-' for stdin. */
  source: string
  /** NDJSON: 1-based line number; JSON: 0. */
  line: number
  /** 1-based number of the event (array element or line with content) within this source. */
  index: number
  /** Byte offset of the event's first byte within this source. */
  offset: number
}

/** Receives events in input order; the scanner passed to the framer holds the key-field spans during `event`. */
export interface FrameHandler {
  /** A valid JSON object. `compact` says its text holds white space between tokens that the output must drop to stay one line. */
  event(buf: Buffer, start: number, end: number, compact: boolean): void
  /** Not an event: invalid JSON (with the offset of the error within the source) or not an object. */
  reject(buf: Buffer, start: number, end: number, reason: string, errorOffset: number): void
}

/** Splits one source's bytes; `push` as chunks arrive, `end` once at its end. */
export interface Framer {
  readonly format: InputFormat
  readonly position: EventPosition
  push(chunk: Buffer): void
  end(): void
}

/** Input that cannot be framed any further (broken structure between events); the CLI exits 1 with its position. */
export class InputError extends Error {
  constructor(
    message: string,
    readonly source: string,
    readonly offset: number,
  ) {
    super(`${source}: byte ${offset}: ${message}`)
  }
}

export type { JsonScanner }
