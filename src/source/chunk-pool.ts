/**
 * @module Input buffers that a file is read straight into and that slabs adopt, so an event's
 * bytes are keyed (on worker threads: they are SharedArrayBuffers) and output where they were
 * read, with no copy. Each buffer has room before the data: a line begun in the previous read is
 * moved there, so it too lies in one piece in one buffer.
 */

/** Room before the data of each buffer; a line carried over from the previous read that is longer goes the copying way. */
export const CHUNK_HEADROOM = 64 * 1024

export class ChunkPool {
  private readonly free: Buffer[] = []
  /** The whole buffer (headroom included) by its memory, to tell ours from other chunks. */
  private readonly mine = new WeakMap<ArrayBufferLike, Buffer>()

  constructor(readonly chunkBytes: number) {}

  /** A buffer of CHUNK_HEADROOM + chunkBytes; the caller reads into it after the headroom. */
  acquire(): Buffer {
    const reused = this.free.pop()
    if (reused !== undefined) return reused
    const buf = Buffer.from(new SharedArrayBuffer(CHUNK_HEADROOM + this.chunkBytes))
    this.mine.set(buf.buffer, buf)
    return buf
  }

  /** Gives a buffer back once nothing refers to its bytes any more. */
  release(buf: Buffer): void {
    this.free.push(buf)
  }

  /** The pool buffer a chunk lies in, or null when the chunk is not one of ours. */
  bufferOf(chunk: Buffer): Buffer | null {
    return this.mine.get(chunk.buffer) ?? null
  }
}
