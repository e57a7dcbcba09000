/** @module Compacting: drops white space between tokens so a multi-line element becomes one NDJSON line; string contents are untouched. */

export function compactJson(b: Uint8Array, start: number, end: number): Buffer {
  const out = Buffer.allocUnsafe(end - start)
  let o = 0
  let i = start
  while (i < end) {
    const c = b[i]
    if (c === 0x22) {
      const s = i
      i++
      while (i < end && b[i] !== 0x22) i += b[i] === 0x5c ? 2 : 1
      i++
      out.set(b.subarray(s, i), o)
      o += i - s
    } else {
      if (!(c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09)) out[o++] = c
      i++
    }
  }
  return out.subarray(0, o)
}
