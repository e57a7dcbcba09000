/** @module Format detection from a source's first bytes. */
import type { InputFormat } from '../framing.js'
import { exportWrapperAt } from './json-framer.js'

/**
 * `json` for a top-level array, for an object whose first line is only '{' (a pretty-printed
 * event or an export), and for an object whose first member holds an array (an export on one
 * line); `ndjson` for anything else, so that garbage is rejected line by line.
 * Returns null while the bytes seen cannot tell yet.
 */
export function detectFormat(b: Uint8Array, eof: boolean): InputFormat | null {
  let i = 0
  if (b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf) i = 3
  while (i < b.length && (b[i] === 0x20 || b[i] === 0x0a || b[i] === 0x0d || b[i] === 0x09)) i++
  if (i >= b.length) return eof ? 'ndjson' : null
  if (b[i] === 0x5b) return 'json'
  if (b[i] !== 0x7b) return 'ndjson'
  let j = i + 1
  while (j < b.length && (b[j] === 0x20 || b[j] === 0x09 || b[j] === 0x0d)) j++
  if (j >= b.length) return eof ? 'ndjson' : null
  if (b[j] === 0x0a) return 'json'
  // The framer's own test for the export object: one rule, in one place.
  const wrapper = exportWrapperAt(b, i)
  if (wrapper === null) return eof ? 'ndjson' : null
  return wrapper > 0 ? 'json' : 'ndjson'
}
