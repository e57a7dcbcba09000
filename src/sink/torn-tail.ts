/**
 * @module An NDJSON output file that ends mid-event (a crash or a full disk during a write) is cut
 * back to its last complete line before anything is appended: otherwise the next event would be
 * glued onto the fragment, making one line that is not JSON. The cut event was never acknowledged.
 */
import { closeSync, fstatSync, ftruncateSync, openSync, readSync } from 'node:fs'

const CHUNK = 64 * 1024

/** Truncates `path` after its last newline when it does not end with one; returns the bytes cut (0: nothing to do, or no such file). */
export function repairTornTail(path: string): number {
  let fd: number
  try {
    fd = openSync(path, 'r+')
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    // Not there yet, or not a regular file we may rewrite (a FIFO, /dev/stdout): nothing to repair.
    if (code === 'ENOENT' || code === 'EACCES' || code === 'ENXIO') return 0
    throw e
  }
  try {
    const st = fstatSync(fd)
    if (!st.isFile() || st.size === 0) return 0
    const buf = Buffer.allocUnsafe(CHUNK)
    let end = st.size
    while (end > 0) {
      const start = Math.max(0, end - CHUNK)
      const n = readSync(fd, buf, 0, end - start, start)
      const nl = buf.subarray(0, n).lastIndexOf(0x0a)
      if (nl >= 0) {
        const keep = start + nl + 1
        if (keep === st.size) return 0
        ftruncateSync(fd, keep)
        return st.size - keep
      }
      end = start
    }
    // No newline at all: the whole file is one unfinished event.
    ftruncateSync(fd, 0)
    return st.size
  } finally {
    closeSync(fd)
  }
}
