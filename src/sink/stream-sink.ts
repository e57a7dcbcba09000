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
  /** Settles when the write of `other` has completed, so it may be refilled. */
  private otherWritten: Promise<void> = Promise.resolve()
  private error: Error | null = null
  private wake: (() => void) | null = null
  private flushing: Promise<void> = Promise.resolve()
  private needDrain = false

  constructor(
    private readonly out: Writable,
    private readonly ownsStream: boolean,
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
    return e.code === 'EPIPE' || e.code === 'ERR_STREAM_DESTROYED' ? new SinkClosedError('output closed') : e
  }

  write(bytes: Uint8Array): void {
    this.reserve(bytes.length + 1)
    this.current.set(bytes, this.used)
    this.used += bytes.length
    this.current[this.used++] = 0x0a
  }

  writeRange(src: Buffer, start: number, end: number): void {
    this.reserve(end - start + 1)
    this.used += src.copy(this.current, this.used, start, end)
    this.current[this.used++] = 0x0a
  }

  private reserve(n: number): void {
    if (this.used + n <= this.current.length) return
    const grown = Buffer.allocUnsafe(Math.max(this.current.length * 2, this.used + n))
    this.current.copy(grown, 0, 0, this.used)
    this.current = grown
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
    if (this.used === 0) return
    // Refill the other buffer only once its own write has completed; swap before writing, so
    // that writes made while this one is under way go to the fresh buffer.
    await this.otherWritten
    const data = this.current.subarray(0, this.used)
    const next = this.other
    this.other = this.current
    this.current = next
    this.used = 0
    this.otherWritten = new Promise<void>((resolve) => {
      // A failed write is known here first ('error' may come a tick later): record it before
      // anyone waiting on written() goes on to acknowledge.
      const ok = this.out.write(data, (e?: Error | null) => {
        if (e) this.error ??= this.classify(e as NodeJS.ErrnoException)
        resolve()
      })
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
