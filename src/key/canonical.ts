/** @module The canonical key encoding: equal JSON values of the key fields give equal bytes, different ones never do. */
import { hash } from 'node:crypto'
import { type ScanSpans, ValueKind, KIND_NAMES } from '../framing/json-scanner.js'

/** The seed's six fields, in the order the encoding uses. */
export const DEFAULT_KEY_FIELDS = ['client_id', 'event_datetime', 'event_name', 'product_id', 'sid', 'r'] as const

/** Type tags of the encoding (one ASCII byte before each value). */
export const TAG = { string: 0x73 /* s */, number: 0x6e /* n */, true: 0x74 /* t */, false: 0x66 /* f */, null: 0x7a /* z */ } as const

/** A 128-bit key digest: the first 16 bytes of SHA-256 over the canonical encoding. */
export type KeyDigest = Uint8Array
export const DIGEST_BYTES = 16

/** Why an event has no key; the pipeline turns it into a reject record. */
export class KeyError extends Error {}

/**
 * Builds canonical encodings into one reusable buffer.
 *
 * Encoding, for each key field in order: a tag byte (`s` string, `n` number, `t` true,
 * `f` false, `z` null), a 4-byte big-endian payload length, then the payload: a string's
 * decoded value as UTF-8 (lone surrogates from `\u` escapes as WTF-8), a number's canonical
 * decimal text (see {@link canonicalNumber}), nothing for the literals. The length prefix
 * makes it unambiguous: `["a|b","c"]` and `["a","b|c"]` encode differently.
 */
export class KeyEncoder {
  private scratch = Buffer.allocUnsafe(1024)

  constructor(
    readonly fields: readonly string[],
    private readonly allowMissing = false,
  ) {}

  /** Encodes the key of the event last scanned by `scanner` out of `buf`; throws KeyError when it has none. */
  encode(scanner: ScanSpans, buf: Uint8Array): Buffer {
    let pos = 0
    const fields = this.fields
    for (let f = 0; f < fields.length; f++) {
      const kind = scanner.kind[f]
      if (kind === ValueKind.String) {
        const start = scanner.start[f] + 1
        const end = scanner.end[f] - 1
        if (scanner.escaped[f] === 0) {
          pos = this.ensure(pos, 5 + end - start)
          pos = this.header(pos, TAG.string, end - start)
          this.scratch.set(buf.subarray(start, end), pos)
          pos += end - start
        } else {
          const value = decodeJsonString(buf, start - 1, end + 1)
          pos = this.ensure(pos, 5 + value.length * 3)
          const header = pos
          pos += 5
          pos += writeWtf8(value, this.scratch, pos)
          this.header(header, TAG.string, pos - header - 5)
        }
      } else if (kind === ValueKind.Number) {
        const text = canonicalNumber(Buffer.from(buf.buffer, buf.byteOffset + scanner.start[f], scanner.end[f] - scanner.start[f]).toString('latin1'))
        pos = this.ensure(pos, 5 + text.length)
        pos = this.header(pos, TAG.number, text.length)
        pos += this.scratch.write(text, pos, 'latin1')
      } else if (kind === ValueKind.True || kind === ValueKind.False || kind === ValueKind.Null) {
        pos = this.ensure(pos, 5)
        pos = this.header(pos, kind === ValueKind.True ? TAG.true : kind === ValueKind.False ? TAG.false : TAG.null, 0)
      } else if (kind === ValueKind.None && this.allowMissing) {
        pos = this.ensure(pos, 5)
        pos = this.header(pos, TAG.null, 0)
      } else if (kind === ValueKind.None) {
        throw new KeyError(`key field "${fields[f]}" is missing`)
      } else {
        throw new KeyError(`key field "${fields[f]}" holds an ${KIND_NAMES[kind]}, not a string, number, boolean or null`)
      }
    }
    return this.scratch.subarray(0, pos)
  }

  private ensure(pos: number, more: number): number {
    if (pos + more > this.scratch.length) {
      const grown = Buffer.allocUnsafe(Math.max(this.scratch.length * 2, pos + more))
      this.scratch.copy(grown, 0, 0, pos)
      this.scratch = grown
    }
    return pos
  }

  private header(pos: number, tag: number, length: number): number {
    this.scratch[pos] = tag
    this.scratch.writeUInt32BE(length, pos + 1)
    return pos + 5
  }
}

/** SHA-256 of the encoding, cut to 128 bits; written into `out` at `offset`. */
export function digestInto(encoding: Uint8Array, out: Uint8Array, offset: number): void {
  const full = hash('sha256', encoding, 'buffer') as unknown as Buffer
  out.set(full.subarray(0, DIGEST_BYTES), offset)
}

export function digestHex(digest: Uint8Array): string {
  return Buffer.from(digest.buffer, digest.byteOffset, DIGEST_BYTES).toString('hex')
}

/**
 * The canonical text of a JSON number, equal for equal decimal values and never rounded:
 * an optional '-', the significant digits without leading or trailing zeros, and
 * `e<exponent>` when the exponent is not 0; zero is `0`. So `1`, `1.0`, `10e-1` give `1`;
 * `1500` gives `15e2`; `-0.25` gives `-25e-2`.
 */
export function canonicalNumber(text: string): string {
  const m = /^(-?)(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/.exec(text)
  if (m === null) throw new KeyError(`not a JSON number: ${text}`)
  const negative = m[1] === '-'
  const frac = m[3] ?? ''
  let digits = (m[2] + frac).replace(/^0+/, '')
  if (digits === '') return '0'
  let trailing = 0
  while (digits.endsWith('0')) {
    digits = digits.slice(0, -1)
    trailing++
  }
  const expText = m[4] ?? '0'
  let exponent: string
  if (expText.length < 15) {
    exponent = String(Number(expText) - frac.length + trailing)
  } else {
    // Exponents beyond 2^53 are legal JSON; BigInt keeps them exact.
    exponent = String(BigInt(expText) - BigInt(frac.length) + BigInt(trailing))
  }
  return (negative ? '-' : '') + digits + (exponent === '0' ? '' : 'e' + exponent)
}

/** Decodes a JSON string literal (quotes included) to a JS string; only called for strings with escapes. */
export function decodeJsonString(buf: Uint8Array, start: number, end: number): string {
  return JSON.parse(Buffer.from(buf.buffer, buf.byteOffset + start, end - start).toString('utf8')) as string
}

/** UTF-8 of a JS string, except that lone surrogates keep their own 3-byte form (WTF-8) instead of becoming U+FFFD, so distinct values stay distinct. */
export function writeWtf8(s: string, out: Buffer, pos: number): number {
  const begin = pos
  for (let k = 0; k < s.length; k++) {
    let c = s.charCodeAt(k)
    if (c >= 0xd800 && c <= 0xdbff && k + 1 < s.length) {
      const d = s.charCodeAt(k + 1)
      if (d >= 0xdc00 && d <= 0xdfff) {
        c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00)
        k++
      }
    }
    if (c < 0x80) out[pos++] = c
    else if (c < 0x800) {
      out[pos++] = 0xc0 | (c >> 6)
      out[pos++] = 0x80 | (c & 0x3f)
    } else if (c < 0x10000) {
      out[pos++] = 0xe0 | (c >> 12)
      out[pos++] = 0x80 | ((c >> 6) & 0x3f)
      out[pos++] = 0x80 | (c & 0x3f)
    } else {
      out[pos++] = 0xf0 | (c >> 18)
      out[pos++] = 0x80 | ((c >> 12) & 0x3f)
      out[pos++] = 0x80 | ((c >> 6) & 0x3f)
      out[pos++] = 0x80 | (c & 0x3f)
    }
  }
  return pos - begin
}
