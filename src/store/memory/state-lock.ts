/**
 * @module The --state lock: one run at a time per state file. Two runs that both load a state,
 * deduplicate and save it would each drop the other's keys (the second save wins), so the second
 * run is refused at once, naming the holder. A lock left by a process that died on this host is
 * taken over.
 */
import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs'
import { hostname } from 'node:os'
import { StateFileError } from './state-file.js'

interface Holder {
  pid: number
  host: string
  since: string
}

export class StateLock {
  private released = false

  private constructor(
    readonly path: string,
    private readonly holder: Holder,
  ) {}

  /** Takes the lock of state file `statePath` (`<statePath>.lock`); throws StateFileError naming the holder when another live process has it. */
  static acquire(statePath: string, now: () => number = Date.now): StateLock {
    const path = `${statePath}.lock`
    const me: Holder = { pid: process.pid, host: hostname(), since: new Date(now()).toISOString() }
    for (let attempt = 0; attempt < 3; attempt++) {
      let fd: number
      try {
        fd = openSync(path, 'wx', 0o644)
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new StateFileError(`${path}: cannot create the state lock: ${(e as Error).message}`)
        const other = readHolder(path)
        if (other === null) continue
        if (other.host === me.host && !alive(other.pid)) {
          // Its holder died (a kill, a crash): the lock is stale. Removed and taken on the next attempt.
          try {
            unlinkSync(path)
          } catch {
            // Another process took it over first: the next attempt says so.
          }
          continue
        }
        throw new StateFileError(
          `${statePath} is in use by process ${other.pid} on ${other.host} since ${other.since} (lock ${path}); ` +
            (other.host === me.host ? 'wait for it to finish' : `if that process is gone, remove ${path}`),
        )
      }
      try {
        writeSync(fd, JSON.stringify(me) + '\n')
      } finally {
        closeSync(fd)
      }
      return new StateLock(path, me)
    }
    throw new StateFileError(`${path}: could not take the state lock (other processes keep taking it)`)
  }

  /** Gives the lock up, if it is still this process's. */
  release(): void {
    if (this.released) return
    this.released = true
    const now = readHolder(this.path)
    if (now !== null && now.pid === this.holder.pid && now.host === this.holder.host && now.since === this.holder.since) {
      try {
        unlinkSync(this.path)
      } catch {
        // Already gone.
      }
    }
  }
}

/** The holder named in a lock file; null when the file is gone or not yet written (its writer is between create and write). */
function readHolder(path: string): Holder | null {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch {
    return null
  }
  try {
    const h = JSON.parse(text) as Holder
    if (typeof h.pid === 'number' && typeof h.host === 'string') return h
  } catch {
    // Half-written: treated below as held by an unknown process.
  }
  return { pid: -1, host: 'an unknown host (unreadable lock file)', since: 'unknown' }
}

function alive(pid: number): boolean {
  if (pid <= 0) return true
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    // EPERM: it exists, owned by someone else.
    return (e as NodeJS.ErrnoException).code === 'EPERM'
  }
}
