/** @module Validating JSON scanner: checks one JSON value and records where the wanted top-level members sit, without building objects. */

/** What a scanned value is; `None` marks a wanted member that was absent. */
export const ValueKind = {
  None: 0,
  String: 1,
  Number: 2,
  True: 3,
  False: 4,
  Null: 5,
  Object: 6,
  Array: 7,
} as const
export type ValueKind = (typeof ValueKind)[keyof typeof ValueKind]

export const KIND_NAMES = ['missing', 'string', 'number', 'true', 'false', 'null', 'object', 'array'] as const

/** Deeper nesting is rejected rather than risking the stack; real events are flat. */
export const MAX_DEPTH = 512

const QUOTE = 0x22
const BACKSLASH = 0x5c

/** Thrown internally; a preallocated value so failing costs no allocation. */
const SCAN_ERROR = Symbol('scan-error')

/** 1 for the bytes that end a run of plain string content: '"', '\\' and control characters. */
const STRING_STOP = new Uint8Array(256)
for (let c = 0; c < 0x20; c++) STRING_STOP[c] = 1
STRING_STOP[QUOTE] = 1
STRING_STOP[BACKSLASH] = 1

/** 1 for JSON white space. */
const WS = new Uint8Array(256)
for (const c of [0x20, 0x0a, 0x0d, 0x09]) WS[c] = 1

const HEX = new Uint8Array(256)
for (const c of '0123456789abcdefABCDEF') HEX[c.charCodeAt(0)] = 1

/** What a scan records: where the wanted top-level members' values sit, and what the whole value is. */
export interface ScanSpans {
  /** Byte span of each wanted member's value, valid when `kind[f] !== None`. */
  readonly start: Int32Array
  readonly end: Int32Array
  readonly kind: Uint8Array
  /** 1 when the wanted string value holds a backslash escape (it needs decoding). */
  readonly escaped: Uint8Array
  readonly topKind: ValueKind
  /** Whether white space occurs between tokens inside the value (so compacting would change its text). */
  readonly innerWhitespace: boolean
}

/** What a framer needs of a scan that finds where a value ends (JsonScanner, or a keyer that also has the fast path). */
export interface PrefixScanner {
  /** As JsonScanner.scanPrefix. */
  scanPrefix(buf: Uint8Array, start: number, end: number): boolean
  readonly valueEnd: number
  readonly topKind: ValueKind
  /** After a failed scan: whether running out of bytes was the problem (more input could complete the value). */
  readonly errorAtEnd: boolean
  /**
   * Where the object starting at `start` ends, by brackets and strings alone (not validated), as
   * JsonFramer's skipBalanced finds it; -1: `end` comes first; -2: split it in JavaScript. Absent
   * where there is no fast way to do it.
   */
  splitObject?(buf: Uint8Array, start: number, end: number): number
}

/**
 * Scans one JSON value in a byte range, per RFC 8259: the whole grammar is checked
 * (the n_ cases of JSONTestSuite are rejected), while only the wanted members of a
 * top-level object are recorded, as byte spans into the caller's buffer.
 * One instance is reused for every event; its span arrays are overwritten by each scan.
 */
export class JsonScanner implements ScanSpans, PrefixScanner {
  /** Byte span of each wanted member's value, valid when `kind[f] !== None`. */
  readonly start: Int32Array
  readonly end: Int32Array
  readonly kind: Uint8Array
  /** 1 when the wanted string value holds a backslash escape (it needs decoding). */
  readonly escaped: Uint8Array
  /** Kind of the scanned top-level value. */
  topKind: ValueKind = ValueKind.None
  /** Whether white space occurs between tokens inside the value (so compacting would change its text). */
  innerWhitespace = false
  /** Where the value ended (exclusive); with `scanPrefix` this is where the caller resumes. */
  valueEnd = 0
  errorPos = -1
  errorMessage = ''
  /** True when the error was running out of bytes, so more input could complete the value. */
  errorAtEnd = false

  /** Wanted names indexed by their byte length, so most member names are dismissed by one array read. */
  private readonly byLength: Array<Array<{ field: number; bytes: Uint8Array }> | undefined>
  private readonly fieldNames: readonly string[]
  private b: Uint8Array = Buffer.alloc(0)
  /** The scanned buffer's memory seen as 32-bit words, for the string loop. */
  private words: Uint32Array = new Uint32Array(0)
  private wordsOf: ArrayBufferLike | null = null
  private i = 0
  private lim = 0
  private lastStringEscaped = false

  constructor(fields: readonly string[]) {
    this.fieldNames = fields
    const n = fields.length
    this.start = new Int32Array(n)
    this.end = new Int32Array(n)
    this.kind = new Uint8Array(n)
    this.escaped = new Uint8Array(n)
    this.byLength = []
    fields.forEach((name, field) => {
      const bytes = Buffer.from(name, 'utf8')
      const list = this.byLength[bytes.length] ?? []
      list.push({ field, bytes })
      this.byLength[bytes.length] = list
    })
  }

  /** Scans `buf[start, end)`, which must hold exactly one JSON value with optional white space around it. */
  scan(buf: Uint8Array, start: number, end: number): boolean {
    if (!this.begin(buf, start, end)) return false
    try {
      this.skipWs()
      this.innerWhitespace = false
      if (this.i >= this.lim) this.fail('no JSON value (empty input)')
      this.topValue()
      this.valueEnd = this.i
      this.skipWs()
      if (this.i < this.lim) this.fail('unexpected data after the JSON value')
      return true
    } catch (e) {
      if (e !== SCAN_ERROR) throw e
      return false
    }
  }

  /** Scans one JSON value that starts at `start` (no leading white space) and may be followed by anything; `valueEnd` tells where it stopped. */
  scanPrefix(buf: Uint8Array, start: number, end: number): boolean {
    if (!this.begin(buf, start, end)) return false
    try {
      this.innerWhitespace = false
      if (this.i >= this.lim) this.fail('unexpected end of input')
      this.topValue()
      this.valueEnd = this.i
      return true
    } catch (e) {
      if (e !== SCAN_ERROR) throw e
      return false
    }
  }

  private begin(buf: Uint8Array, start: number, end: number): boolean {
    this.b = buf
    if (buf.buffer !== this.wordsOf) {
      this.wordsOf = buf.buffer
      this.words = new Uint32Array(buf.buffer, 0, buf.buffer.byteLength >>> 2)
    }
    this.i = start
    this.lim = end
    this.kind.fill(0)
    this.escaped.fill(0)
    this.topKind = ValueKind.None
    this.errorPos = -1
    this.errorMessage = ''
    this.errorAtEnd = false
    return true
  }

  private fail(message: string): never {
    this.errorPos = this.i
    this.errorAtEnd = this.i >= this.lim
    this.errorMessage = this.errorAtEnd && !message.startsWith('unexpected end') ? `unexpected end of input (${message})` : message
    throw SCAN_ERROR
  }

  private skipWs(): void {
    const b = this.b
    let i = this.i
    const lim = this.lim
    while (i < lim) {
      const c = b[i]
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) i++
      else break
    }
    if (i !== this.i) {
      this.innerWhitespace = true
      this.i = i
    }
  }

  private topValue(): void {
    if (this.b[this.i] === 0x7b /* { */) {
      this.topKind = ValueKind.Object
      this.topObject()
    } else {
      this.topKind = this.value(1)
    }
  }

  private topObject(): void {
    const b = this.b
    this.i++
    this.skipWs()
    if (this.i < this.lim && b[this.i] === 0x7d /* } */) {
      this.i++
      return
    }
    // Compact events have no white space between tokens: each skip is tried inline first,
    // and a string value is read without going through value(): 6.6 against 7.4 µs an event,
    // measured side by side on the bench data. Each test stays inside `lim`: reading past the end
    // of a typed array deoptimised the JSON-array path (23 % slower end to end).
    // (An iterative rewrite with an explicit stack measured 15 % slower than this recursive descent.)
    for (;;) {
      if (this.i >= this.lim || b[this.i] !== QUOTE) this.fail('expected a string member name')
      const keyStart = ++this.i
      this.string()
      const keyEnd = this.i - 1
      const keyEscaped = this.lastStringEscaped
      if (this.i < this.lim && WS[b[this.i]] === 1) this.skipWs()
      if (this.i >= this.lim || b[this.i] !== 0x3a /* : */) this.fail("expected ':' after a member name")
      this.i++
      if (this.i < this.lim && WS[b[this.i]] === 1) this.skipWs()
      const valueStart = this.i
      let kind: ValueKind
      if (this.i < this.lim && b[this.i] === QUOTE) {
        this.i++
        this.string()
        kind = ValueKind.String
      } else kind = this.value(1)
      const field = this.matchField(keyStart, keyEnd, keyEscaped)
      if (field >= 0) {
        // A repeated member overwrites: last one wins, as JSON.parse and Python's json read it.
        this.start[field] = valueStart
        this.end[field] = this.i
        this.kind[field] = kind
        this.escaped[field] = kind === ValueKind.String && this.lastStringEscaped ? 1 : 0
      }
      if (this.i < this.lim && WS[b[this.i]] === 1) this.skipWs()
      if (this.i >= this.lim) this.fail("expected ',' or '}'")
      const c = b[this.i++]
      if (c === 0x2c /* , */) {
        if (this.i < this.lim && WS[b[this.i]] === 1) this.skipWs()
        continue
      }
      if (c === 0x7d /* } */) return
      this.i--
      this.fail("expected ',' or '}'")
    }
  }

  private matchField(keyStart: number, keyEnd: number, keyEscaped: boolean): number {
    if (keyEscaped) {
      const name = JSON.parse(Buffer.from(this.b.buffer, this.b.byteOffset + keyStart - 1, keyEnd - keyStart + 2).toString('utf8')) as string
      return this.fieldNames.indexOf(name)
    }
    const length = keyEnd - keyStart
    const candidates = length < this.byLength.length ? this.byLength[length] : undefined
    if (candidates === undefined) return -1
    const b = this.b
    outer: for (let c = 0; c < candidates.length; c++) {
      const { field, bytes } = candidates[c]
      for (let k = 0; k < bytes.length; k++) if (b[keyStart + k] !== bytes[k]) continue outer
      return field
    }
    return -1
  }

  private value(depth: number): ValueKind {
    if (this.i >= this.lim) this.fail('unexpected end of input (expected a value)')
    const c = this.b[this.i]
    switch (c) {
      case QUOTE:
        this.i++
        this.string()
        return ValueKind.String
      case 0x7b:
        this.object(depth + 1)
        return ValueKind.Object
      case 0x5b:
        this.array(depth + 1)
        return ValueKind.Array
      case 0x74:
        this.literal('true')
        return ValueKind.True
      case 0x66:
        this.literal('false')
        return ValueKind.False
      case 0x6e:
        this.literal('null')
        return ValueKind.Null
      default:
        if (c === 0x2d || (c >= 0x30 && c <= 0x39)) {
          this.number()
          return ValueKind.Number
        }
        return this.fail(`unexpected character ${describeByte(c)}`)
    }
  }

  /** Consumes string content after the opening quote, through the closing quote. */
  private string(): void {
    const b = this.b
    const lim = this.lim
    let i = this.i
    let escaped = false
    for (;;) {
      // The hot loop of the whole tool: most of an event's bytes are string content.
      // Four bytes at a time (SWAR): a word is skipped when none of its bytes is '"', '\\' or < 0x20.
      // A whole scan of an event holding a 4.7 KB string runs at 2.3 GB/s; a bare byte loop over
      // the same bytes at 1.2 GB/s (bench/scanner.ts).
      // Short strings (most member names and values) end within the first bytes: no word setup for them.
      const shortEnd = i + 16 < lim ? i + 16 : lim
      while (i < shortEnd && STRING_STOP[b[i]] === 0) i++
      if (i === shortEnd && i < lim) {
        const words = this.words
        const off = b.byteOffset
        while (i < lim && ((off + i) & 3) !== 0 && STRING_STOP[b[i]] === 0) i++
        let w = (off + i) >>> 2
        const wordLimit = (off + lim) >>> 2
        while (w < wordLimit) {
          const x = words[w]
          const q = x ^ 0x22222222
          const s = x ^ 0x5c5c5c5c
          if ((((x - 0x20202020) & ~x) | ((q - 0x01010101) & ~q) | ((s - 0x01010101) & ~s)) & 0x80808080) break
          w++
        }
        i = (w << 2) - off
        while (i < lim && STRING_STOP[b[i]] === 0) i++
      }
      if (i >= lim) {
        this.i = i
        this.fail('unterminated string')
      }
      const c = b[i]
      if (c === QUOTE) break
      if (c < 0x20) {
        this.i = i
        this.fail(`unescaped control character ${describeByte(c)} in a string`)
      }
      escaped = true
      i++
      if (i >= lim) {
        this.i = i
        this.fail('unterminated escape')
      }
      const e = b[i]
      if (e === 0x75 /* u */) {
        for (let k = 1; k <= 4; k++) {
          if (i + k >= lim) {
            this.i = i + k
            this.fail('unterminated \\u escape')
          }
          if (HEX[b[i + k]] === 0) {
            this.i = i + k
            this.fail('invalid \\u escape: expected 4 hex digits')
          }
        }
        i += 5
      } else if (e === QUOTE || e === BACKSLASH || e === 0x2f || e === 0x62 || e === 0x66 || e === 0x6e || e === 0x72 || e === 0x74) {
        i++
      } else {
        this.i = i
        this.fail(`invalid escape \\${String.fromCharCode(e)}`)
      }
    }
    this.i = i + 1
    this.lastStringEscaped = escaped
  }

  private number(): void {
    const b = this.b
    const lim = this.lim
    let i = this.i
    if (b[i] === 0x2d) i++
    if (i >= lim) {
      this.i = i
      this.fail('unexpected end of input in a number')
    }
    if (b[i] === 0x30) {
      i++
    } else if (b[i] >= 0x31 && b[i] <= 0x39) {
      while (i < lim && b[i] >= 0x30 && b[i] <= 0x39) i++
    } else {
      this.i = i
      this.fail('invalid number: expected a digit')
    }
    if (i < lim && b[i] === 0x2e) {
      i++
      const digits = i
      while (i < lim && b[i] >= 0x30 && b[i] <= 0x39) i++
      if (i === digits) {
        this.i = i
        this.fail('invalid number: expected a digit after the decimal point')
      }
    }
    if (i < lim && (b[i] === 0x65 || b[i] === 0x45)) {
      i++
      if (i < lim && (b[i] === 0x2b || b[i] === 0x2d)) i++
      const digits = i
      while (i < lim && b[i] >= 0x30 && b[i] <= 0x39) i++
      if (i === digits) {
        this.i = i
        this.fail('invalid number: expected a digit in the exponent')
      }
    }
    this.i = i
  }

  private literal(word: string): void {
    const b = this.b
    for (let k = 0; k < word.length; k++) {
      if (this.i >= this.lim) this.fail(`unexpected end of input (expected ${word})`)
      if (b[this.i] !== word.charCodeAt(k)) this.fail(`invalid literal (expected ${word})`)
      this.i++
    }
  }

  private object(depth: number): void {
    if (depth > MAX_DEPTH) this.fail(`nesting deeper than ${MAX_DEPTH}`)
    const b = this.b
    this.i++
    this.skipWs()
    if (this.i < this.lim && b[this.i] === 0x7d) {
      this.i++
      return
    }
    for (;;) {
      if (this.i >= this.lim || b[this.i] !== QUOTE) this.fail('expected a string member name')
      this.i++
      this.string()
      this.skipWs()
      if (this.i >= this.lim || b[this.i] !== 0x3a) this.fail("expected ':' after a member name")
      this.i++
      this.skipWs()
      this.value(depth)
      this.skipWs()
      if (this.i >= this.lim) this.fail("expected ',' or '}'")
      const c = b[this.i++]
      if (c === 0x2c) {
        this.skipWs()
        continue
      }
      if (c === 0x7d) return
      this.i--
      this.fail("expected ',' or '}'")
    }
  }

  private array(depth: number): void {
    if (depth > MAX_DEPTH) this.fail(`nesting deeper than ${MAX_DEPTH}`)
    const b = this.b
    this.i++
    this.skipWs()
    if (this.i < this.lim && b[this.i] === 0x5d) {
      this.i++
      return
    }
    for (;;) {
      this.value(depth)
      this.skipWs()
      if (this.i >= this.lim) this.fail("expected ',' or ']'")
      const c = b[this.i++]
      if (c === 0x2c) {
        this.skipWs()
        continue
      }
      if (c === 0x5d) return
      this.i--
      this.fail("expected ',' or ']'")
    }
  }
}

export function describeByte(c: number): string {
  if (c >= 0x21 && c < 0x7f) return `'${String.fromCharCode(c)}'`
  return `0x${c.toString(16).padStart(2, '0')}`
}
