/**
 * @module Where a key digest lives in Redis: key names, set members and hash slots.
 *
 * Every Redis key that one check touches carries the same hash tag, `{xyz}`, taken from the
 * digest's first bits, so a check is one Lua script on one node of a cluster.
 */

export type RedisLayoutName = 'compact' | 'simple'

/** Hash-tag bits: keys spread over at most 2^10 = 1024 of a cluster's 16384 slots. */
export const MAX_TAG_BITS = 10

/** The digest's first 32 bits, big-endian. */
function head32(d: Uint8Array, o: number): number {
  return ((d[o] << 24) | (d[o + 1] << 16) | (d[o + 2] << 8) | d[o + 3]) >>> 0
}

export class KeyLayout {
  readonly tagBits: number
  /** log2 of the compact layout's sets per time bucket. */
  readonly setBits: number

  constructor(
    readonly name: RedisLayoutName,
    readonly prefix: string,
    sets: number,
  ) {
    if (/[{}]/.test(prefix)) throw new RangeError('the key prefix must not contain { or }: they would change the hash tag')
    const bits = Math.log2(sets)
    if (!Number.isInteger(bits) || bits < 0 || bits > 24) throw new RangeError('sets must be a power of two from 1 to 16777216')
    this.setBits = bits
    this.tagBits = name === 'compact' ? Math.min(bits, MAX_TAG_BITS) : MAX_TAG_BITS
  }

  /** The hash tag of the digest at byte offset `o`: its first `tagBits` bits. */
  tag(d: Uint8Array, o: number): number {
    return this.tagBits === 0 ? 0 : head32(d, o) >>> (32 - this.tagBits)
  }

  /** compact: the set's key without its time bucket, `prefix{tag}set:`; the script appends the bucket number and link. */
  setBase(d: Uint8Array, o: number): string {
    const set = this.setBits === 0 ? 0 : head32(d, o) >>> (32 - this.setBits)
    const tag = this.setBits === 0 ? 0 : set >>> (this.setBits - this.tagBits)
    return `${this.prefix}{${tag.toString(16)}}${set.toString(16)}:`
  }

  /**
   * compact: the set member, the digest's last 64 bits as a signed decimal (so Redis keeps it in
   * an intset, 8 bytes). 0 marks a full set (see scripts.ts), so a member that would be 0 is 1.
   */
  member(digests: Buffer, o: number): string {
    const v = digests.readBigInt64BE(o + 8)
    return v === 0n ? '1' : v.toString()
  }

  /** simple: one Redis key per event, `prefix{tag}<32 hex digits>`. */
  eventKey(digests: Buffer, o: number): string {
    return `${this.prefix}{${this.tag(digests, o).toString(16)}}${digests.toString('hex', o, o + 16)}`
  }

  /**
   * The journal of one run's script calls: per hash tag in a cluster (null on a single server),
   * per slot (batches rotate over JOURNAL_SLOTS) and per chunk of a batch (at most CHECK_CHUNK
   * events a call).
   */
  journalKey(runId: string, tag: number | null, slot: number, chunk: number): string {
    return `${this.prefix}${tag === null ? '' : `{${tag.toString(16)}}`}journal:${runId}:${slot}.${chunk}`
  }

  /** The hash of occurrences (where a key was first seen) not yet released, per hash tag in a cluster: `consume` only. */
  occurrenceKey(tag: number | null): string {
    return `${this.prefix}${tag === null ? '' : `{${tag.toString(16)}}`}occurrences`
  }

  /** Records the options that decide where keys live, so that two pipelines that disagree cannot share a prefix. */
  layoutKey(): string {
    return `${this.prefix}layout`
  }
}

// CRC16/XMODEM, as Redis Cluster computes key slots (cluster spec, "Keys distribution model").
const CRC16_TABLE = (() => {
  const t = new Uint16Array(256)
  for (let i = 0; i < 256; i++) {
    let c = i << 8
    for (let k = 0; k < 8; k++) c = c & 0x8000 ? ((c << 1) ^ 0x1021) & 0xffff : (c << 1) & 0xffff
    t[i] = c
  }
  return t
})()

function crc16(bytes: Uint8Array): number {
  let crc = 0
  for (const b of bytes) crc = ((crc << 8) & 0xffff) ^ CRC16_TABLE[((crc >> 8) ^ b) & 0xff]
  return crc
}

/** The Redis Cluster slot of a key: only the part inside the first non-empty `{...}` counts, when there is one. */
export function keySlot(key: string | Buffer): number {
  const bytes = typeof key === 'string' ? Buffer.from(key) : key
  const open = bytes.indexOf(0x7b)
  if (open >= 0) {
    const close = bytes.indexOf(0x7d, open + 1)
    if (close > open + 1) return crc16(bytes.subarray(open + 1, close)) & 16383
  }
  return crc16(bytes) & 16383
}
