/** @module NDJSON to a Writable (stdout or a file), batched per input chunk. */
import type { Writable } from 'node:stream'
import { once } from 'node:events'
import type { Sink } from '../sink.js'
import { SinkClosedError } from '../sink.js'

const NEWLINE = Buffer.from('\n')

export class StreamSink implements Sink {
  private parts: Uint8Array[] = []
  private bytes = 0
  private error: Error | null = null

  constructor(
    private readonly out: Writable,
    private readonly ownsStream: boolean,
  ) {
    out.on('error', (e: NodeJS.ErrnoException) => {
      this.error = e.code === 'EPIPE' || e.code === 'ERR_STREAM_DESTROYED' ? new SinkClosedError('output closed') : e
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
    if (!this.out.write(data)) {
      await Promise.race([once(this.out, 'drain'), once(this.out, 'error')])
    }
    if (this.error) throw this.error
  }

  async close(): Promise<void> {
    await this.flush()
    if (this.ownsStream) {
      await new Promise<void>((resolve, reject) => this.out.end((e?: Error | null) => (e ? reject(e) : resolve())))
    } else if (this.out.writableNeedDrain) {
      await once(this.out, 'drain')
    }
    if (this.error) throw this.error
  }
}
