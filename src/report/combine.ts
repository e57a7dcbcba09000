/** @module Fans pipeline notifications out to several listeners. */
import type { PipelineListener } from '../report.js'

export function combine(listeners: PipelineListener[]): PipelineListener {
  const dup = listeners.filter((l) => l.duplicate)
  const rej = listeners.filter((l) => l.reject)
  const prog = listeners.filter((l) => l.progress)
  const flushing = listeners.filter((l) => l.flush)
  return {
    // Left undefined when nobody listens, so the pipeline builds no record at all (pino's rule: nothing on the hot path).
    duplicate: dup.length ? (r) => dup.forEach((l) => l.duplicate!(r)) : undefined,
    reject: rej.length ? (r, input) => rej.forEach((l) => l.reject!(r, input)) : undefined,
    progress: prog.length ? (b, e) => prog.forEach((l) => l.progress!(b, e)) : undefined,
    flush: flushing.length ? async () => void (await Promise.all(flushing.map((l) => l.flush!()))) : undefined,
  }
}
