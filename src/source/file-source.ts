/** @module Sources: files in order, '-' for stdin, gzip read transparently (by its magic bytes). */
import { createReadStream, statSync } from 'node:fs'
import { createGunzip } from 'node:zlib'
import { Readable } from 'node:stream'

export interface Source {
  /** The file name, or '-' for stdin. */
  name: string
  /** On-disk size when known (a regular file), for progress. */
  size: number | null
  /** Decompressed chunks. */
  chunks(): AsyncIterable<Buffer>
}

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
      chunks: () => decompressed(name === '-' ? stdin : createReadStream(name, { highWaterMark: CHUNK_BYTES }), onRawBytes),
    }
  })
}

async function* decompressed(raw: Readable, onRawBytes: (n: number) => void): AsyncGenerator<Buffer> {
  const it = raw[Symbol.asyncIterator]() as AsyncIterator<Buffer>
  const first = await it.next()
  if (first.done) return
  const head = first.value
  onRawBytes(head.length)
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) {
    const gunzip = createGunzip({ chunkSize: CHUNK_BYTES })
    const rest = Readable.from(
      (async function* () {
        yield head
        for (;;) {
          const r = await it.next()
          if (r.done) return
          onRawBytes(r.value.length)
          yield r.value
        }
      })(),
    )
    rest.pipe(gunzip)
    rest.on('error', (e) => gunzip.destroy(e))
    for await (const chunk of gunzip) yield chunk as Buffer
    return
  }
  yield head
  for (;;) {
    const r = await it.next()
    if (r.done) return
    onRawBytes(r.value.length)
    yield r.value
  }
}
