/** @module Output bytes gathered into chunks of about 1 MiB: one write call each, and the consumer can wait for each to drain. */

export const CHUNK_BYTES = 1 << 20

/**
 * Bytes and text appended into a buffer; a buffer that cannot take the next piece is set aside
 * as full and a new one started. A full buffer is never written to again, so a consumer may hold
 * it until its write is done.
 */
export class ByteChunks {
  private chunk = Buffer.allocUnsafe(CHUNK_BYTES)
  private used = 0
  private full: Buffer[] = []

  bytes(piece: Uint8Array): void {
    if (this.used + piece.length > this.chunk.length) this.startChunk(piece.length)
    this.chunk.set(piece, this.used)
    this.used += piece.length
  }

  /** As UTF-8: at most three bytes a UTF-16 unit. */
  text(piece: string): void {
    if (this.used + 3 * piece.length > this.chunk.length) this.startChunk(3 * piece.length)
    // ASCII is copied a char at a time: most pieces are a value of some 20 chars, for which
    // Buffer.write's own set-up took longer than the copy (a third of the generator's time).
    const chunk = this.chunk
    let at = this.used
    for (let i = 0; i < piece.length; i++) {
      const c = piece.charCodeAt(i)
      if (c >= 0x80) {
        this.used += chunk.write(piece, this.used)
        return
      }
      chunk[at++] = c
    }
    this.used = at
  }

  /** The chunks filled since the last call. */
  takeFull(): Buffer[] {
    const full = this.full
    this.full = []
    return full
  }

  /** The chunks filled since the last call, and what the current one holds. */
  end(): Buffer[] {
    this.startChunk(0)
    return this.takeFull()
  }

  private startChunk(atLeast: number): void {
    if (this.used > 0) this.full.push(this.chunk.subarray(0, this.used))
    this.chunk = Buffer.allocUnsafe(Math.max(CHUNK_BYTES, atLeast))
    this.used = 0
  }
}
