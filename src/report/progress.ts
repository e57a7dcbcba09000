/** @module Progress bar on stderr (cli-progress); only created when stderr is a TTY and the input size is known. */
import { createRequire } from 'node:module'
import type * as CliProgress from 'cli-progress'
import type { PipelineListener } from '../report.js'
import { formatBytes } from './summary.js'

export function progressBar(totalBytes: number, stream: NodeJS.WriteStream): PipelineListener & { stop(): void } {
  // Loaded here, not at start-up: only a run on a terminal draws a bar.
  const cliProgress = createRequire(import.meta.url)('cli-progress') as typeof CliProgress
  const started = performance.now()
  const bar = new cliProgress.SingleBar(
    {
      stream,
      format: 'kion-dedup |{bar}| {percentage}% {done}/{size} | {rate} events/s | ETA {eta_formatted}',
      hideCursor: true,
      clearOnComplete: true,
      fps: 5,
    },
    cliProgress.Presets.shades_classic,
  )
  bar.start(totalBytes, 0, { done: formatBytes(0), size: formatBytes(totalBytes), rate: 0 })
  return {
    progress(rawBytes: number, events: number) {
      const secs = (performance.now() - started) / 1000
      bar.update(Math.min(rawBytes, totalBytes), { done: formatBytes(rawBytes), rate: secs > 0 ? Math.round(events / secs) : 0 })
    },
    stop() {
      bar.stop()
    },
  }
}
