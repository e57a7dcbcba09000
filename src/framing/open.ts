/** @module Picks the framer for a format, and frames a whole buffer whose format is detected: the one place that turns "bytes of events" into framer calls. */
import type { FrameHandler, Framer, InputFormat } from '../framing.js'
import type { PrefixScanner } from './json-scanner.js'
import { NdjsonFramer } from './ndjson-framer.js'
import { JsonFramer } from './json-framer.js'
import { detectFormat } from './detect.js'

/** A framer for `format`; JSON framing scans with `scanner`, so that keying can reuse its spans. */
export function openFramer(format: InputFormat, scanner: PrefixScanner, handler: FrameHandler, source: string, maxEventBytes: number): Framer {
  return format === 'ndjson' ? new NdjsonFramer(handler, source, maxEventBytes) : new JsonFramer(scanner, handler, source, maxEventBytes)
}

/** Frames all of `body` (NDJSON or JSON, detected) into `handler`; throws InputError where its structure breaks. */
export function frameWhole(body: Buffer, scanner: PrefixScanner, handler: FrameHandler, source: string, maxEventBytes: number): InputFormat {
  const format = detectFormat(body, true) ?? 'ndjson'
  const framer = openFramer(format, scanner, handler, source, maxEventBytes)
  framer.push(body)
  framer.end()
  return format
}
