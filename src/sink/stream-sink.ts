/** @module NDJSON to a Writable (stdout or a file), batched per input chunk into two reused buffers. */
import type { Writable } from 'node:stream'
import type { Sink } from '../sink.js'
import { SinkClosedError } from '../sink.js'

const INITIAL_BYTES = 1 << 20

/**
 * Events are copied into one buffer and written once per flush. Two buffers alternate: one
 * is being written while the next chunk's events fill the other. A fresh buffer per flush
 * (Buffer.concat) spent 10 % of a run in page faults and copying (CPU profile of the bench data).
 */
export class StreamSink implements Sink {
  private current = Buffer.allocUnsafe(INITIAL_BYTES)
  private other = Buffer.allocUnsafe(INITIAL_BYTES)
  private used = 0
  /** What the next flush writes, in order: parts of `current` and views of callers' memory (writeInPlace). */
  private pieces: Buffer[] = []
  /** Bytes of `current` already among the pieces. */
  private sealed = 0
  /** A caller's bytes not yet among the pieces: [viewStart, viewEnd) of viewOf, which an adjacent event extends. */
  private viewOf: Buffer | null = null
  private viewStart = 0
  private viewEnd = 0
  /** Settles when the write of `other` has completed, so it may be refilled. */
  private otherWritten: Promise<void> = Promise.resolve()
  private error: Error | null = null
  private wake: (() => void) | null = null
  private flushing: Promise<void> = Promise.resolve()
  private needDrain = false

  constructor(
    private readonly out: Writable,
    private readonly ownsStream: boolean,
    /** What the destination is called in messages: its path, or stdout. */
    private readonly name: string = ownsStream ? 'the output file' : 'stdout',
  ) {
    // One listener for the sink's life: a listener per flush would pile up (MaxListenersExceededWarning).
    out.on('error', (e: NodeJS.ErrnoException) => {
      this.error ??= this.classify(e)
      this.wake?.()
    })
  }

  /** The destination's error, once it failed (then nothing more can be written). */
  get failure(): Error | null {
    return this.error
  }

  private classify(e: NodeJS.ErrnoException): Error {
    if (e.code === 'EPIPE' || e.code === 'ERR_STREAM_DESTROYED') return new SinkClosedError('output closed')
    // A write error names no file (ENOSPC: "no space left on device, write"): say which one.
    return Object.assign(new Error(`${this.name}: ${e.message}`), { code: e.code })
  }

  write(bytes: Uint8Array): void {
    this.sealView()
    this.reserve(bytes.length + 1)
    this.current.set(bytes, this.used)
    this.used += bytes.length
    this.current[this.used++] = 0x0a
  }

  writeRange(src: Buffer, start: number, end: number): void {
    this.sealView()
    this.reserve(end - start + 1)
    this.used += src.copy(this.current, this.used, start, end)
    this.current[this.used++] = 0x0a
  }

  writeInPlace(src: Buffer, start: number, end: number): void {
    // Only an event followed by its newline can join a run; any other (a JSON-array element, a
    // CRLF line) is copied: a piece and a newline of its own per event made millions of tiny
    // iovecs on small events (1 s of system time a million).
    if (end >= src.length || src[end] !== 0x0a) return this.writeRange(src, start, end)
    const take = end - start + 1
    // Events next to each other in the input, each with its newline, go out as one piece, made
    // only when the run ends: no object per event.
    if (this.viewOf === src && this.viewEnd === start) {
      this.viewEnd += take
    } else {
      this.seal()
      this.viewOf = src
      this.viewStart = start
      this.viewEnd = start + take
    }
  }

  /** Makes the pending run of a caller's bytes a piece. */
  private sealView(): void {
    if (this.viewOf === null) return
    this.pieces.push(this.viewOf.subarray(this.viewStart, this.viewEnd))
    this.viewOf = null
  }

  /** Makes what is pending (a run of a caller's bytes, or what was copied into `current` since the last piece) a piece of its own. */
  private seal(): void {
    this.sealView()
    if (this.used > this.sealed) {
      this.pieces.push(this.current.subarray(this.sealed, this.used))
      this.sealed = this.used
    }
  }

  private reserve(n: number): void {
    if (this.used + n <= this.current.length) return
    // Copied bytes already among the pieces stay where they are; the rest moves to a bigger buffer.
    this.seal()
    const grown = Buffer.allocUnsafe(Math.max(this.current.length * 2, n))
    this.current = grown
    this.used = 0
    this.sealed = 0
  }

  /**
   * Flushes run one at a time, in call order: with many writers (serve), each flush hands over
   * everything written before it started, and a write never lands in a buffer being written.
   */
  flush(): Promise<void> {
    const run = this.flushing.then(() => this.flushOnce())
    this.flushing = run.catch(() => {})
    return run
  }

  /** Resolves when everything flushed so far has been written to the destination (its write callback), not just accepted. */
  async written(): Promise<void> {
    await this.flushing
    await this.otherWritten
    if (this.error) throw this.error
  }

  private async flushOnce(): Promise<void> {
    if (this.error) throw this.error
    this.seal()
    if (this.pieces.length === 0) return
    // Refill the other buffer only once its own write has completed; swap before writing, so
    // that writes made while this one is under way go to the fresh buffer.
    await this.otherWritten
    this.seal()
    const pieces = this.pieces
    this.pieces = []
    const next = this.other
    this.other = this.current
    this.current = next
    this.used = 0
    this.sealed = 0
    this.otherWritten = new Promise<void>((resolve) => {
      // A failed write is known here first ('error' may come a tick later): record it before
      // anyone waiting on written() goes on to acknowledge. Several pieces go as one writev where the stream has it.
      let ok = true
      if (pieces.length > 1) this.out.cork()
      for (let i = 0; i < pieces.length - 1; i++) ok = this.out.write(pieces[i]) && ok
      ok =
        this.out.write(pieces[pieces.length - 1], (e?: Error | null) => {
          if (e) this.error ??= this.classify(e as NodeJS.ErrnoException)
          resolve()
        }) && ok
      if (pieces.length > 1) this.out.uncork()
      if (!ok) this.needDrain = true
    })
    if (this.needDrain) {
      this.needDrain = false
      await this.drained()
    }
    if (this.error) throw this.error
  }

  /** Resolves on 'drain', on 'close', or when the error listener records an error. */
  private drained(): Promise<void> {
    if (this.error) return Promise.resolve()
    return new Promise((resolve) => {
      const done = () => {
        this.out.off('drain', done)
        this.out.off('close', done)
        this.wake = null
        resolve()
      }
      this.out.on('drain', done)
      this.out.on('close', done)
      this.wake = done
    })
  }

  async close(): Promise<void> {
    await this.flush()
    if (this.ownsStream) {
      await new Promise<void>((resolve, reject) => this.out.end((e?: Error | null) => (e ? reject(e) : resolve())))
    } else if (this.out.writableNeedDrain) {
      await this.drained()
    }
    if (this.error) throw this.error
  }
}
