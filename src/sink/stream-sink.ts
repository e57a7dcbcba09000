/** @module NDJSON to a Writable (stdout or a file), batched per input chunk. */
import type { Writable } from 'node:stream'
import type { Sink } from '../sink.js'
import { SinkClosedError } from '../sink.js'

const NEWLINE = Buffer.from('\n')

export class StreamSink implements Sink {
  private parts: Uint8Array[] = []
  private bytes = 0
  private error: Error | null = null
  private wake: (() => void) | null = null

  constructor(
    private readonly out: Writable,
    private readonly ownsStream: boolean,
  ) {
    // One listener for the sink's life: a listener per flush would pile up (MaxListenersExceededWarning).
    out.on('error', (e: NodeJS.ErrnoException) => {
      this.error = e.code === 'EPIPE' || e.code === 'ERR_STREAM_DESTROYED' ? new SinkClosedError('output closed') : e
      this.wake?.()
    })
  }

  write(bytes: Uint8Array): void {
    this.parts.push(bytes, NEWLINE)
    this.bytes += bytes.length + 1
  }

  async flush(): Promise<void> {
    if (this.error) throw this.error
    if (this.bytes === 0) return
    // One copy into one write: a write per event costs more than the copy (measured in bench/).
    const data = Buffer.concat(this.parts, this.bytes)
    this.parts = []
    this.bytes = 0
    if (!this.out.write(data)) await this.drained()
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
