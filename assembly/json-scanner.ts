// The fast path of src/framing/json-scanner.ts, in AssemblyScript compiled to WebAssembly with
// SIMD (npm run build: `asc`). It accepts exactly what the JavaScript scanner accepts and records
// the same spans; it never produces an error message. On anything but a clean accept it answers
// INVALID (the JavaScript scanner then rescans the event for the message and position) or
// ASK_JS (a case it leaves to the JavaScript scanner: an escaped top-level member name, or
// nesting deep enough that the JavaScript scanner's depth limit decides).
//
// Memory layout (JavaScript writes the inputs, reads the results; see src/framing/wasm-scanner.ts):
//   256      static data, if any: the build sets --memoryBase 256
//   FIELDS   u32 count, then per wanted field: u32 offset of its name, u32 byte length
//   RESULTS  i32 start[64], i32 end[64], u8 kind[64], u8 escaped[64], u8 topKind, u8 innerWhitespace, i32 valueEnd,
//            then at +656 the 16-byte key digest `key` writes
//   SHA_STATE, SHA_TAIL  SHA-256 working memory (the compression itself: assembly/sha256.ts)
//   STACK    one byte per open container (1 object, 2 array)
//   INPUT    the bytes being scanned, followed by at least 16 bytes of padding (SIMD loads read ahead),
//            then room for one key's encoding (JavaScript passes its address to `key`)

import { compressBlock } from './sha256'

const FIELDS: u32 = 1024
const RESULTS: u32 = 8192
const R_START: u32 = RESULTS
const R_END: u32 = RESULTS + 256
const R_KIND: u32 = RESULTS + 512
const R_ESCAPED: u32 = RESULTS + 576
const R_TOP_KIND: u32 = RESULTS + 640
const R_INNER_WS: u32 = RESULTS + 641
const R_VALUE_END: u32 = RESULTS + 644
const R_DIGEST: u32 = RESULTS + 656
const STACK: u32 = 9216
const MAX_STACK: i32 = 400
// SHA-256 state (8 words) and the last one or two padded blocks.
const SHA_STATE: u32 = 10240
const SHA_TAIL: u32 = 10752
export const INPUT: u32 = 16384
export const MAX_FIELDS: u32 = 64

export const OK: i32 = 0
export const INVALID: i32 = 1
export const ASK_JS: i32 = 2

// Failure codes inside the scan (negative positions).
const FAIL: i32 = -1
const DEEP: i32 = -2

// ValueKind of src/framing/json-scanner.ts.
const K_NONE: u8 = 0
const K_STRING: u8 = 1
const K_NUMBER: u8 = 2
const K_TRUE: u8 = 3
const K_FALSE: u8 = 4
const K_NULL: u8 = 5
const K_OBJECT: u8 = 6
const K_ARRAY: u8 = 7

let innerWs: bool = false
let lastEscaped: bool = false

export function fieldsAt(): u32 {
  return FIELDS
}
export function resultsAt(): u32 {
  return RESULTS
}

@inline function isWs(c: u32): bool {
  return c == 0x20 || c == 0x0a || c == 0x0d || c == 0x09
}

@inline function skipWs(i: i32, lim: i32): i32 {
  const from = i
  while (i < lim && isWs(<u32>load<u8>(i))) i++
  if (i != from) innerWs = true
  return i
}

@inline function isHex(c: u32): bool {
  return (c - 0x30 < 10) || ((c | 0x20) - 0x61 < 6)
}

/** From just after the opening quote; returns the index after the closing quote, or FAIL. */
@inline function scanString(i: i32, lim: i32): i32 {
  // Most values of real events are short or empty: the common cases end before any vector setup.
  if (i < lim && load<u8>(i) == 0x22) {
    lastEscaped = false
    return i + 1
  }
  return scanStringBody(i, lim)
}

function scanStringBody(i: i32, lim: i32): i32 {
  const quote = i8x16.splat(0x22)
  const backslash = i8x16.splat(0x5c)
  const space = i8x16.splat(0x20)
  let escaped = false
  for (;;) {
    // 16 bytes at a time while a whole vector fits before lim; the padding after the input makes the load safe.
    while (i + 16 <= lim) {
      const v = v128.load(i)
      const stop = v128.or(v128.or(i8x16.eq(v, quote), i8x16.eq(v, backslash)), i8x16.lt_u(v, space))
      const mask = i8x16.bitmask(stop)
      if (mask != 0) {
        i += ctz<i32>(mask)
        break
      }
      i += 16
    }
    while (i < lim) {
      const c = <u32>load<u8>(i)
      if (c == 0x22 || c == 0x5c || c < 0x20) break
      i++
    }
    if (i >= lim) return FAIL
    const c = <u32>load<u8>(i)
    if (c == 0x22) break
    if (c < 0x20) return FAIL
    // A backslash.
    escaped = true
    i++
    if (i >= lim) return FAIL
    const e = <u32>load<u8>(i)
    if (e == 0x75) {
      if (i + 4 >= lim) return FAIL
      if (!isHex(<u32>load<u8>(i + 1)) || !isHex(<u32>load<u8>(i + 2)) || !isHex(<u32>load<u8>(i + 3)) || !isHex(<u32>load<u8>(i + 4))) return FAIL
      i += 5
    } else if (e == 0x22 || e == 0x5c || e == 0x2f || e == 0x62 || e == 0x66 || e == 0x6e || e == 0x72 || e == 0x74) {
      i++
    } else return FAIL
  }
  lastEscaped = escaped
  return i + 1
}

@inline function isDigit(c: u32): bool {
  return c - 0x30 < 10
}

function scanNumber(i: i32, lim: i32): i32 {
  if (load<u8>(i) == 0x2d) i++
  if (i >= lim) return FAIL
  let c = <u32>load<u8>(i)
  if (c == 0x30) i++
  else if (c - 0x31 < 9) {
    while (i < lim && isDigit(<u32>load<u8>(i))) i++
  } else return FAIL
  if (i < lim && load<u8>(i) == 0x2e) {
    i++
    const digits = i
    while (i < lim && isDigit(<u32>load<u8>(i))) i++
    if (i == digits) return FAIL
  }
  if (i < lim && (load<u8>(i) | 0x20) == 0x65) {
    i++
    if (i < lim) {
      c = <u32>load<u8>(i)
      if (c == 0x2b || c == 0x2d) i++
    }
    const digits = i
    while (i < lim && isDigit(<u32>load<u8>(i))) i++
    if (i == digits) return FAIL
  }
  return i
}

@inline function scanLiteral(i: i32, lim: i32, word: u32, length: i32): i32 {
  // word holds the literal's bytes little-endian ("true" = 0x65757274).
  for (let k = 0; k < length; k++) {
    if (i + k >= lim || <u32>load<u8>(i + k) != ((word >> (<u32>k * 8)) & 0xff)) return FAIL
  }
  return i + length
}

/** Kind of the value starting with byte c (the value itself is not checked). */
@inline function kindOf(c: u32): u8 {
  if (c == 0x22) return K_STRING
  if (c == 0x7b) return K_OBJECT
  if (c == 0x5b) return K_ARRAY
  if (c == 0x74) return K_TRUE
  if (c == 0x66) return K_FALSE
  if (c == 0x6e) return K_NULL
  return K_NUMBER
}

/** After a member's opening quote: name, ':', and white space up to its value. Returns the value's start or FAIL. */
@inline function memberName(i: i32, lim: i32): i32 {
  i = scanString(i, lim)
  if (i < 0) return FAIL
  if (i < lim && isWs(<u32>load<u8>(i))) i = skipWs(i, lim)
  if (i >= lim || load<u8>(i) != 0x3a) return FAIL
  i++
  if (i < lim && isWs(<u32>load<u8>(i))) i = skipWs(i, lim)
  return i
}

/** One whole JSON value of any depth from i; returns its end, FAIL, or DEEP. */
function scanValue(i: i32, lim: i32): i32 {
  let sp: i32 = 0
  for (;;) {
    if (i >= lim) return FAIL
    const c = <u32>load<u8>(i)
    if (c == 0x22) {
      i = scanString(i + 1, lim)
      if (i < 0) return FAIL
    } else if (c == 0x7b || c == 0x5b) {
      if (sp >= MAX_STACK) return DEEP
      i = skipWs(i + 1, lim)
      const close: u32 = c == 0x7b ? 0x7d : 0x5d
      if (i < lim && <u32>load<u8>(i) == close) {
        i++
      } else {
        store<u8>(STACK + sp, c == 0x7b ? 1 : 2)
        sp++
        if (c == 0x7b) {
          if (i >= lim || load<u8>(i) != 0x22) return FAIL
          i = memberName(i + 1, lim)
          if (i < 0) return FAIL
        }
        continue
      }
    } else if (c == 0x74) {
      i = scanLiteral(i, lim, 0x65757274, 4)
    } else if (c == 0x66) {
      i = scanLiteral(i, lim, 0x736c6166, 4)
      if (i >= 0) {
        if (i >= lim || load<u8>(i) != 0x65) return FAIL
        i++
      }
    } else if (c == 0x6e) {
      i = scanLiteral(i, lim, 0x6c6c756e, 4)
    } else if (c == 0x2d || c - 0x30 < 10) {
      i = scanNumber(i, lim)
    } else return FAIL
    if (i < 0) return FAIL
    // After a value: close what ends here, or go on to the next element or member.
    for (;;) {
      if (sp == 0) return i
      i = skipWs(i, lim)
      if (i >= lim) return FAIL
      const d = <u32>load<u8>(i)
      const open = <u32>load<u8>(STACK + sp - 1)
      if (d == 0x2c) {
        i = skipWs(i + 1, lim)
        if (open == 1) {
          if (i >= lim || load<u8>(i) != 0x22) return FAIL
          i = memberName(i + 1, lim)
          if (i < 0) return FAIL
        }
        break
      }
      if ((open == 1 && d == 0x7d) || (open == 2 && d == 0x5d)) {
        i++
        sp--
        continue
      }
      return FAIL
    }
  }
  return FAIL // not reached: the loop returns
}

/** The wanted field whose name is bytes [from, to), or -1. */
function matchField(from: i32, to: i32): i32 {
  const count = <i32>load<u32>(FIELDS)
  const length = to - from
  for (let f = 0; f < count; f++) {
    const at = FIELDS + 4 + <u32>f * 8
    if (<i32>load<u32>(at + 4) != length) continue
    const name = <i32>load<u32>(at)
    let k = 0
    while (k < length && load<u8>(name + k) == load<u8>(from + k)) k++
    if (k == length) return f
  }
  return -1
}

/** The top-level object from just after '{': every member checked, the wanted ones recorded. Returns its end, FAIL, DEEP, or -3 (escaped member name). */
function scanTopObject(i: i32, lim: i32, base: i32): i32 {
  i = skipWs(i, lim)
  if (i < lim && load<u8>(i) == 0x7d) return i + 1
  for (;;) {
    if (i >= lim || load<u8>(i) != 0x22) return FAIL
    const keyStart = i + 1
    i = scanString(keyStart, lim)
    if (i < 0) return FAIL
    if (lastEscaped) return -3
    const keyEnd = i - 1
    if (i < lim && isWs(<u32>load<u8>(i))) i = skipWs(i, lim)
    if (i >= lim || load<u8>(i) != 0x3a) return FAIL
    i++
    if (i < lim && isWs(<u32>load<u8>(i))) i = skipWs(i, lim)
    const valueStart = i
    let kind: u8
    let escaped: u8 = 0
    if (i < lim && load<u8>(i) == 0x22) {
      i = scanString(i + 1, lim)
      if (i < 0) return FAIL
      kind = K_STRING
      escaped = lastEscaped ? 1 : 0
    } else {
      if (i >= lim) return FAIL
      kind = kindOf(<u32>load<u8>(i))
      i = scanValue(i, lim)
      if (i < 0) return i
    }
    const field = matchField(keyStart, keyEnd)
    if (field >= 0) {
      // A repeated member overwrites: the last one wins.
      store<i32>(R_START + <u32>field * 4, valueStart - base)
      store<i32>(R_END + <u32>field * 4, i - base)
      store<u8>(R_KIND + <u32>field, kind)
      store<u8>(R_ESCAPED + <u32>field, escaped)
    }
    if (i < lim && isWs(<u32>load<u8>(i))) i = skipWs(i, lim)
    if (i >= lim) return FAIL
    const c = load<u8>(i)
    i++
    if (c == 0x2c) {
      if (i < lim && isWs(<u32>load<u8>(i))) i = skipWs(i, lim)
      continue
    }
    if (c == 0x7d) return i
    return FAIL
  }
  return FAIL // not reached: the loop returns
}

/**
 * Scans the value in input bytes [start, end) (positions as the caller counts them; `base` is
 * added to make addresses). `prefix` 0: exactly one value with white space around it, as
 * JsonScanner.scan; 1: one value starting at `start` and followed by anything, as
 * JsonScanner.scanPrefix (valueEnd says where it stopped). Returns OK, INVALID or ASK_JS.
 */
export function scan(start: i32, end: i32, base: i32, prefix: i32): i32 {
  const count = load<u32>(FIELDS)
  memory.fill(R_KIND, 0, count)
  memory.fill(R_ESCAPED, 0, count)
  store<u8>(R_TOP_KIND, K_NONE)
  let i = start + base
  const lim = end + base
  if (prefix == 0) while (i < lim && isWs(<u32>load<u8>(i))) i++
  innerWs = false
  if (i >= lim) return INVALID
  const c = <u32>load<u8>(i)
  let top: u8
  if (c == 0x7b) {
    top = K_OBJECT
    i = scanTopObject(i + 1, lim, base)
  } else {
    top = kindOf(c)
    i = scanValue(i, lim)
  }
  if (i == DEEP || i == -3) return ASK_JS
  if (i < 0) return INVALID
  store<u8>(R_TOP_KIND, top)
  store<i32>(R_VALUE_END, i - base)
  if (prefix == 0) {
    i = skipWs(i, lim)
    if (i < lim) return INVALID
  }
  store<u8>(R_INNER_WS, innerWs ? 1 : 0)
  return OK
}

// The key: the canonical encoding of src/key/canonical.ts and the first 16 bytes of its SHA-256,
// for the common case only: string values without escapes, true, false, null, and (with
// allowMissing) absent members. Numbers, escaped strings and wrong kinds go to JavaScript, which
// owns those rules (canonical numbers, WTF-8, the error messages).

/** SHA-256 of bytes [msg, msg + len); the first 16 bytes of the digest go to `out`. */
export function sha256Head(msg: u32, len: u32, out: u32): void {
  store<u32>(SHA_STATE, 0x6a09e667)
  store<u32>(SHA_STATE, 0xbb67ae85, 4)
  store<u32>(SHA_STATE, 0x3c6ef372, 8)
  store<u32>(SHA_STATE, 0xa54ff53a, 12)
  store<u32>(SHA_STATE, 0x510e527f, 16)
  store<u32>(SHA_STATE, 0x9b05688c, 20)
  store<u32>(SHA_STATE, 0x1f83d9ab, 24)
  store<u32>(SHA_STATE, 0x5be0cd19, 28)
  let off: u32 = 0
  while (off + 64 <= len) {
    compressBlock(msg + off, SHA_STATE)
    off += 64
  }
  const rest = len - off
  memory.copy(SHA_TAIL, msg + off, rest)
  store<u8>(SHA_TAIL + rest, 0x80)
  const blocks: u32 = rest + 9 <= 64 ? 1 : 2
  memory.fill(SHA_TAIL + rest + 1, 0, blocks * 64 - rest - 1 - 8)
  const bits = <u64>len * 8
  store<u64>(SHA_TAIL + blocks * 64 - 8, bswap<u64>(bits))
  compressBlock(SHA_TAIL, SHA_STATE)
  if (blocks == 2) compressBlock(SHA_TAIL + 64, SHA_STATE)
  store<u32>(out, bswap<u32>(load<u32>(SHA_STATE)))
  store<u32>(out + 4, bswap<u32>(load<u32>(SHA_STATE, 4)))
  store<u32>(out + 8, bswap<u32>(load<u32>(SHA_STATE, 8)))
  store<u32>(out + 12, bswap<u32>(load<u32>(SHA_STATE, 12)))
}

/**
 * After a scan that returned OK: encodes the first `keyCount` wanted fields into `scratch` and
 * writes the key digest (16 bytes) at R_DIGEST. Returns OK, or ASK_JS for anything but the
 * common case. `base` as given to scan.
 */
export function key(keyCount: i32, allowMissing: i32, base: i32, scratch: u32): i32 {
  let p = scratch
  for (let f = 0; f < keyCount; f++) {
    const kind = load<u8>(R_KIND + <u32>f)
    let tag: u32
    let from: i32 = 0
    let length: i32 = 0
    if (kind == K_STRING) {
      if (load<u8>(R_ESCAPED + <u32>f) != 0) return ASK_JS
      from = load<i32>(R_START + <u32>f * 4) + 1 + base
      length = load<i32>(R_END + <u32>f * 4) - 1 + base - from
      tag = 0x73
    } else if (kind == K_TRUE) tag = 0x74
    else if (kind == K_FALSE) tag = 0x66
    else if (kind == K_NULL || (kind == K_NONE && allowMissing != 0)) tag = 0x7a
    else return ASK_JS
    store<u8>(p, <u8>tag)
    store<u32>(p + 1, bswap<u32>(<u32>length), 0)
    if (length > 0) memory.copy(p + 5, <u32>from, <u32>length)
    p += 5 + <u32>length
  }
  sha256Head(scratch, p - scratch, R_DIGEST)
  return OK
}

// Splitting a JSON array: where the element that starts at `start` ends, by brackets and strings
// alone (not validated: worker threads validate it), 64 bytes at a time with bit masks in the
// manner of simdjson's first stage. It answers as src/framing/json-framer.ts's skipBalanced does
// wherever the two can differ only on invalid input: a control byte inside a string or a
// backslash outside one is answered SPLIT_ASK_JS, and JavaScript splits that element.

export const SPLIT_MORE: i32 = -1
export const SPLIT_ASK_JS: i32 = -2

const EVEN_BITS: u64 = 0x5555555555555555

@inline function mask16(v: v128, c: i32): u64 {
  return <u64>(<u32>i8x16.bitmask(i8x16.eq(v, i8x16.splat(<i8>c))))
}

@inline function prefixXor(x: u64): u64 {
  x ^= x << 1
  x ^= x << 2
  x ^= x << 4
  x ^= x << 8
  x ^= x << 16
  x ^= x << 32
  return x
}

/** From the element's first byte (positions counted as the caller counts them, `base` as for scan); its end, SPLIT_MORE or SPLIT_ASK_JS. */
export function splitElement(start: i32, end: i32, base: i32): i32 {
  let p = start + base
  const lim = end + base
  let escapedCarry: u64 = 0
  let inStringCarry: u64 = 0
  let depth: i32 = 0
  const space = i8x16.splat(0x20)
  while (p < lim) {
    let bs: u64 = 0
    let quote: u64 = 0
    let open: u64 = 0
    let close: u64 = 0
    let comma: u64 = 0
    let control: u64 = 0
    for (let k = 0; k < 4; k++) {
      const v = v128.load(p + k * 16)
      const shift = <u64>(k * 16)
      bs |= mask16(v, 0x5c) << shift
      quote |= mask16(v, 0x22) << shift
      open |= (mask16(v, 0x7b) | mask16(v, 0x5b)) << shift
      close |= (mask16(v, 0x7d) | mask16(v, 0x5d)) << shift
      comma |= mask16(v, 0x2c) << shift
      control |= <u64>(<u32>i8x16.bitmask(i8x16.lt_u(v, space))) << shift
    }
    // Bytes past the end of the range do not count.
    const valid: u64 = lim - p >= 64 ? 0xffffffffffffffff : (<u64>1 << <u64>(lim - p)) - 1
    bs &= valid
    quote &= valid
    open &= valid
    close &= valid
    comma &= valid
    control &= valid
    // Escaped bytes: those after an odd run of backslashes.
    const b = bs & ~escapedCarry
    const followsEscape = (b << 1) | escapedCarry
    const oddStarts = b & ~EVEN_BITS & ~followsEscape
    const sum = oddStarts + b
    const overflow: u64 = sum < oddStarts ? 1 : 0
    const escaped = (EVEN_BITS ^ (sum << 1)) & followsEscape
    escapedCarry = overflow
    // Inside a string: from an unescaped quote up to (not including) the next one.
    const q = quote & ~escaped
    const inString = prefixXor(q) ^ inStringCarry
    inStringCarry = <u64>(<i64>inString >> 63)
    const insideOnly = inString & ~q
    if ((control & insideOnly) != 0 || (bs & ~inString) != 0) return SPLIT_ASK_JS
    let structural = (open | close | comma) & ~inString
    while (structural != 0) {
      const bit = <i32>ctz<u64>(structural)
      structural &= structural - 1
      const at = p + bit
      const c = <u32>load<u8>(at)
      if (c == 0x7b || c == 0x5b) depth++
      else if (c == 0x7d || c == 0x5d) {
        if (depth == 0) return at - base
        depth--
        if (depth == 0) return at + 1 - base
      } else if (depth == 0) return at - base
    }
    p += 64
  }
  return SPLIT_MORE
}
