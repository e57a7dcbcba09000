/** @module The sink interface: where unique events go, as NDJSON lines, in input order. */

export interface Sink {
  /** Appends one event's text; a newline is added. The bytes must stay unchanged until the next flush. */
  write(bytes: Uint8Array): void
  /** The same for `src[start, end)`, copied at once (no view object per event). */
  writeRange(src: Buffer, start: number, end: number): void
  /**
   * The same for `src[start, end)` without a copy: the caller keeps those bytes unchanged until
   * `written()` resolves. A newline right after the event in `src` goes out with it.
   */
  writeInPlace(src: Buffer, start: number, end: number): void
  /** Hands everything written so far to the destination; resolves once it accepted it (backpressure). Calls may overlap. */
  flush(): Promise<void>
  /** Resolves once everything flushed so far has been written to the destination (serve acknowledges after this). */
  written(): Promise<void>
  /** The destination's error, once it failed (then nothing more can be written); null while it works. */
  readonly failure: Error | null
  /**
   * Optional: a sink that stores each event with its key digest and where it was read (a
   * database) has this; the pipeline then calls it instead of the write methods. `text` stays
   * unchanged until `written()` resolves.
   */
  event?(text: Buffer, digest: Uint8Array, origin: string, originOffset: number | bigint | null): void
  /** Flushes and closes (a file) or just flushes (stdout). */
  close(): Promise<void>
}

/** The destination went away (a closed pipe, as with `| head`). */
export class SinkClosedError extends Error {}
