/** @module The process edges a command may touch, passed in so that commands stay testable and never read globals. */
import type { Readable, Writable } from 'node:stream'

export interface CliIo {
  stdin: Readable
  stdout: Writable & { isTTY?: boolean }
  stderr: Writable & { isTTY?: boolean }
  env: Record<string, string | undefined>
  /** Where SIGINT/SIGTERM arrive (process, in the bin). */
  signals: { on(name: string, f: () => void): unknown; off(name: string, f: () => void): unknown }
}
