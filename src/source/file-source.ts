/** @module Sources: files in order, '-' for stdin, gzip read transparently (by its magic bytes). */
import { createReadStream, statSync } from 'node:fs'
import { open } from 'node:fs/promises'
import { createGunzip } from 'node:zlib'
import { Readable } from 'node:stream'

export interface Source {
  /** The file name, or '-' for stdin. */
  name: string
  /** On-disk size when known (a regular file), for progress. */
  size: number | null
  /**
   * Decompressed chunks. A chunk is valid only until the next one is asked for: its memory may
   * be reused (the pipeline copies whatever it keeps).
   */
  chunks(): AsyncIterable<Buffer>
}

/** A source that cannot be read to its end (a truncated or corrupt .gz); the CLI exits 1 with this message. */
export class SourceError extends Error {}

/** Chunks of 1 MiB: fewer, larger pushes keep per-chunk costs (carry copies, flushes) small. */
export const CHUNK_BYTES = 1 << 20

/** `onRawBytes` counts bytes as read from disk (compressed for .gz), matching `size` for progress. */
export function openSources(paths: readonly string[], stdin: Readable, onRawBytes: (n: number) => void): Source[] {
  const list = paths.length === 0 ? ['-'] : paths
  return list.map((name) => {
    let size: number | null = null
    if (name !== '-') {
      // Fails early, before any output, for a missing file.
      const st = statSync(name)
      size = st.isFile() ? st.size : null
    }
    return {
      name,
      size,
      chunks: () => (name === '-' ? decompressed(stdin, name, onRawBytes) : fileChunks(name, onRawBytes)),
    }
  })
}

/**
 * A regular file is read into one reused buffer: a fresh buffer per chunk (createReadStream)
 * cost 167 ms per 284 MB against 40 ms reused, measured on the bench data. A gzip file goes
 * through the stream path.
 */
async function* fileChunks(name: string, onRawBytes: (n: number) => void): AsyncGenerator<Buffer> {
  const fh = await open(name, 'r')
  try {
    const buf = Buffer.allocUnsafe(CHUNK_BYTES)
    const first = await fh.read(buf, 0, buf.length, null)
    if (first.bytesRead >= 2 && buf[0] === 0x1f && buf[1] === 0x8b) {
      await fh.close()
      yield* decompressed(createReadStream(name, { highWaterMark: CHUNK_BYTES }), name, onRawBytes)
      return
    }
    let n = first.bytesRead
    while (n > 0) {
      onRawBytes(n)
      yield buf.subarray(0, n)
      n = (await fh.read(buf, 0, buf.length, null)).bytesRead
    }
  } finally {
    await fh.close().catch(() => {})
  }
}

async function* decompressed(raw: Readable, name: string, onRawBytes: (n: number) => void): AsyncGenerator<Buffer> {
  const it = raw[Symbol.asyncIterator]() as AsyncIterator<Buffer>
  const first = await it.next()
  if (first.done) return
  const head = first.value
  onRawBytes(head.length)
  /** The raw chunks, the first one included, counted as they are read. */
  async function* counted(): AsyncGenerator<Buffer> {
    yield head
    for (;;) {
      const r = await it.next()
      if (r.done) return
      onRawBytes(r.value.length)
      yield r.value
    }
  }
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) {
    const gunzip = createGunzip({ chunkSize: CHUNK_BYTES })
    const rest = Readable.from(counted())
    rest.pipe(gunzip)
    rest.on('error', (e) => gunzip.destroy(e))
    try {
      for await (const chunk of gunzip) yield chunk as Buffer
    } catch (e) {
      throw new SourceError(`${name}: gzip: ${(e as Error).message} (everything before it was processed)`)
    }
    return
  }
  yield* counted()
}
