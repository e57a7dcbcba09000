/** @module The state file: remembered keys saved between cron runs, versioned and checksummed, written atomically. */
import { createHash } from 'node:crypto'
import { closeSync, fsyncSync, openSync, readSync, renameSync, writeSync, existsSync, fstatSync, unlinkSync } from 'node:fs'
import { MAX_FINGERPRINT_BITS, type MemoryStore, type MemoryStoreSnapshot } from './memory-store.js'
import { QuotientTable } from './fingerprint-table.js'

const MAGIC = Buffer.from('KIONDDUP')
/** 2: quotient tables (9-byte slots: two words, then a meta byte a slot). 1: 56-bit fingerprints in 8-byte slots. */
export const STATE_VERSION = 2

/** A state file that cannot be used; the CLI maps it to exit status 1 with this message. */
export class StateFileError extends Error {}

interface StateHeader {
  version: number
  keyFields: string[]
  clock: string
  windowMs: number
  buckets: number
  fingerprintBits: number
  /** null before the first event (JSON has no -Infinity). */
  now: number | null
  oldestLive: number | null
  epochNumbers: Array<number | null>
  tables: Array<{ capacity: number; count: number }>
  /** Where an interrupted run stood when these keys were saved (pipeline/checkpoint.ts); absent after a run that finished. */
  checkpoint?: unknown
}

/**
 * Layout: "KIONDDUP", u32 BE header length, header JSON, then for each table its slot words
 * (little-endian u32, two a slot) and its meta bytes (one a slot), then the SHA-256 of
 * everything before it (32 bytes).
 * Written to `<path>.tmp-<pid>`, fsynced, then renamed over `path`.
 */
export function saveState(path: string, store: MemoryStore, keyFields: readonly string[], clock: string, checkpoint?: unknown): void {
  const snap = store.snapshot()
  const header: StateHeader = {
    version: STATE_VERSION,
    keyFields: [...keyFields],
    clock,
    windowMs: snap.windowMs,
    buckets: snap.buckets,
    fingerprintBits: snap.fingerprintBits,
    now: Number.isFinite(snap.now) ? snap.now : null,
    oldestLive: Number.isFinite(snap.oldestLive) ? snap.oldestLive : null,
    epochNumbers: snap.epochNumbers,
    tables: snap.tables.map((t) => ({ capacity: t.capacity, count: t.count })),
    ...(checkpoint !== undefined ? { checkpoint } : {}),
  }
  const headerBytes = Buffer.from(JSON.stringify(header))
  const len = Buffer.alloc(4)
  len.writeUInt32BE(headerBytes.length)
  const tmp = `${path}.tmp-${process.pid}`
  const fd = openSync(tmp, 'w', 0o644)
  const sha = createHash('sha256')
  const put = (b: Uint8Array) => {
    sha.update(b)
    let off = 0
    while (off < b.length) off += writeSync(fd, b, off, b.length - off)
  }
  try {
    put(MAGIC)
    put(len)
    put(headerBytes)
    for (const t of snap.tables) {
      put(new Uint8Array(t.words.buffer, t.words.byteOffset, t.words.byteLength))
      // The EARLIER_RUN flag is set again on load; saving it would only make files of the same keys differ.
      const meta = Uint8Array.from(t.meta, (m) => m & 0x7f)
      put(meta)
    }
    const sum = sha.digest()
    let off = 0
    while (off < sum.length) off += writeSync(fd, sum, off, sum.length - off)
    fsyncSync(fd)
  } catch (e) {
    closeSync(fd)
    unlinkSync(tmp)
    // A failed write names no file (ENOSPC: "no space left on device, write"): say which.
    const code = (e as NodeJS.ErrnoException).code
    throw Object.assign(new StateFileError(`${path}: state not saved: ${(e as Error).message}`), { code })
  }
  closeSync(fd)
  renameSync(tmp, path)
}

/**
 * Loads `path` into `store`; false when the file does not exist (a first run starts empty). Anything
 * else wrong is a StateFileError. `found.checkpoint` gets the checkpoint saved with the keys, if any.
 */
export function loadState(path: string, store: MemoryStore, keyFields: readonly string[], clock: string, found?: { checkpoint: unknown }): boolean {
  if (!existsSync(path)) return false
  const fd = openSync(path, 'r')
  try {
    const size = fstatSync(fd).size
    let pos = 0
    const sha = createHash('sha256')
    const take = (n: number, into?: Uint8Array): Uint8Array => {
      if (pos + n > size) throw new StateFileError(`state file ${path} is truncated (needs ${pos + n} bytes, has ${size})`)
      const b = into ?? Buffer.alloc(n)
      let off = 0
      while (off < n) {
        const r = readSync(fd, b, off, n - off, pos + off)
        if (r === 0) throw new StateFileError(`state file ${path} is truncated`)
        off += r
      }
      pos += n
      sha.update(b)
      return b
    }
    const magic = take(8)
    if (!MAGIC.equals(magic)) throw new StateFileError(`${path} is not a kion-dedup state file (bad magic)`)
    const headerLength = Buffer.from(take(4)).readUInt32BE(0)
    if (headerLength > 1 << 20) throw new StateFileError(`state file ${path} is corrupt (header length ${headerLength})`)
    let header: StateHeader
    try {
      header = JSON.parse(Buffer.from(take(headerLength)).toString('utf8')) as StateHeader
    } catch {
      throw new StateFileError(`state file ${path} is corrupt (unreadable header)`)
    }
    // Version 1 (56-bit fingerprints in 8-byte slots) is converted on load: see fromVersion1.
    const v1 = header.version === 1
    if (v1 && (header.fingerprintBits !== 56 || store.fingerprintBits !== MAX_FINGERPRINT_BITS))
      throw new StateFileError(`state file ${path} has version 1 with ${header.fingerprintBits}-bit fingerprints; only the default 56 can be converted to version ${STATE_VERSION}`)
    if (!v1 && header.version !== STATE_VERSION) throw new StateFileError(`state file ${path} has version ${header.version}; this kion-dedup reads version ${STATE_VERSION}`)
    const mismatch = (what: string, had: unknown, want: unknown) =>
      new StateFileError(`state file ${path} was made with ${what} ${JSON.stringify(had)}, this run uses ${JSON.stringify(want)}; use the same setting or another state file`)
    if (header.keyFields.join(',') !== keyFields.join(',')) throw mismatch('--key', header.keyFields.join(','), keyFields.join(','))
    if (header.clock !== clock) throw mismatch('--clock', header.clock, clock)
    if (header.windowMs !== store.windowMs) throw mismatch('--window (ms)', header.windowMs, store.windowMs)
    if (header.buckets !== store.buckets || (!v1 && header.fingerprintBits !== store.fingerprintBits)) throw mismatch('store geometry', [header.buckets, header.fingerprintBits], [store.buckets, store.fingerprintBits])
    const tables: MemoryStoreSnapshot['tables'] = []
    for (const t of header.tables) {
      if (!(Number.isSafeInteger(t.capacity) && t.capacity > 0 && t.capacity * 9 <= size)) throw new StateFileError(`state file ${path} is corrupt (table capacity ${t.capacity})`)
      const words = new Uint32Array(t.capacity * 2)
      take(words.byteLength, new Uint8Array(words.buffer))
      if (v1) {
        tables.push(fromVersion1(words, t.capacity, t.count))
        continue
      }
      const meta = new Uint8Array(t.capacity)
      take(meta.byteLength, meta)
      tables.push({ capacity: t.capacity, count: t.count, words, meta })
    }
    const expected = sha.digest()
    const stored = Buffer.alloc(32)
    if (pos + 32 !== size) throw new StateFileError(`state file ${path} is corrupt (size ${size}, expected ${pos + 32})`)
    readSync(fd, stored, 0, 32, pos)
    if (!expected.equals(stored)) throw new StateFileError(`state file ${path} is corrupt (checksum mismatch)`)
    const restore = () => store.restore({
      windowMs: header.windowMs,
      buckets: header.buckets,
      fingerprintBits: store.fingerprintBits,
      now: header.now ?? -Infinity,
      oldestLive: header.oldestLive ?? -Infinity,
      epochNumbers: header.epochNumbers,
      tables,
    })
    try {
      restore()
    } catch (e) {
      if (e instanceof RangeError) throw new StateFileError(`state file ${path} is corrupt (${e.message})`)
      throw e
    }
    if (found !== undefined) found.checkpoint = header.checkpoint ?? null
    return true
  } finally {
    closeSync(fd)
  }
}

/**
 * A version 1 table as a version 2 one. Version 1 stored digest bytes 8..14 (56 bits) with the
 * epoch; those are exactly the first 56 key bits of version 2 (bytes 8..15, 1..4). Each entry
 * goes in with 1 index bit and the other 55 as its remainder (all valid), and the table moves
 * bits to the index as it is sized: the entry keeps its 62-bit identity (6 segment + 56) until
 * it expires, while keys inserted after the conversion get the full width.
 */
function fromVersion1(old: Uint32Array, capacity: number, count: number): { capacity: number; count: number; words: Uint32Array; meta: Uint8Array } {
  const table = new QuotientTable(Math.ceil(count / 0.76), false)
  const e = { q: 0, b: 1, w0: 0, w1: 0, m: 0, ordinal: 0 }
  for (let s = 0; s < capacity; s++) {
    const w1 = old[s * 2 + 1]
    if ((w1 & 0xff) === 0) continue
    const hi = old[s * 2]
    const lo = w1 >>> 8
    e.q = hi >>> 31
    e.w0 = ((((hi & 0x7f) << 24) | lo) * 2 + 1) >>> 0
    e.w1 = ((((hi >>> 7) & 0xffffff) << 8) | (w1 & 0xff)) >>> 0
    // At load 0.76 no displacement comes near the 127 a meta byte holds.
    if (!table.adopt(e)) throw new StateFileError('version 1 table could not be converted (displacement overflow)')
  }
  if (table.count !== count) throw new StateFileError(`version 1 table holds ${table.count} keys, its header says ${count}`)
  return { capacity: table.capacity, count: table.count, words: table.words, meta: table.meta }
}
