/**
 * @module How long, and how, a check keeps trying when Redis fails: which errors mean "away or
 * busy" (try again once it is back) and which mean "refused" (fail at once), with a resume token.
 */
import type { RedisClient } from './options.js'

/** Redis could not be used at start: nothing has been read or written yet. */
export class RedisStartError extends Error {}

/** Redis could not be reached (or kept failing) for the whole retry time; nothing after `resumeToken`'s batch was checked. */
export class RedisUnavailableError extends Error {
  constructor(
    message: string,
    /** `runId:seq`: the batch in doubt, for `--redis-resume`. */
    readonly resumeToken: string,
  ) {
    super(message)
  }
}

/**
 * Redis refused a check for a reason retrying will not mend (out of memory, wrong type, ...).
 * Batches sent after it may have been applied: `resumeToken` claims them.
 */
export class RedisCommandError extends Error {
  constructor(
    message: string,
    readonly resumeToken: string,
  ) {
    super(message)
  }
}

const TRANSIENT_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTCONN', 'ECONNABORTED'])

/** Errors that mean "the server is away or busy", after which the answer to a sent command is unknown. */
function isTransient(e: unknown): boolean {
  if (!(e instanceof Error)) return false
  if (e.name === 'ReplyError') return /^(LOADING|BUSY|TRYAGAIN|CLUSTERDOWN|MASTERDOWN)\b/.test(e.message)
  const code = (e as NodeJS.ErrnoException).code
  if (code !== undefined && TRANSIENT_CODES.has(code)) return true
  return (
    e.name === 'MaxRetriesPerRequestError' ||
    e.name === 'ClusterAllFailedError' ||
    /Connection is closed|Stream isn't writeable|Command timed out|Failed to refresh slots cache|None of startup nodes is available/.test(e.message)
  )
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

export class RetryPolicy {
  /** The client's own account of a lost connection (ECONNREFUSED ...), clearer than the failed command's error. */
  private connectionError: string | null = null

  constructor(
    private readonly client: RedisClient,
    /** How long a check waits for Redis to come back before it fails (ms). */
    private readonly retryMs: number,
  ) {
    this.client.on('error', (e: Error) => (this.connectionError = e.message))
    this.client.on('ready', () => (this.connectionError = null))
  }

  /**
   * Runs `first`, and after a transient failure `again` (which must find out whether the failed
   * attempt was applied) until one answers or the retry time is up. `resumeToken` names the
   * batch in doubt in the error thrown.
   */
  async attempt<T>(first: () => Promise<T>, again: () => Promise<T>, resumeToken: string): Promise<T> {
    const deadline = performance.now() + this.retryMs
    for (let attempt = 0; ; attempt++) {
      try {
        return attempt === 0 ? await first() : await again()
      } catch (e) {
        if (!isTransient(e)) throw new RedisCommandError(`Redis refused a check: ${(e as Error).message}`, resumeToken)
        if (performance.now() >= deadline) {
          const why = this.connectionError ?? (e as Error).message
          throw new RedisUnavailableError(`Redis unavailable for ${(this.retryMs / 1000).toFixed(1)} s: ${why}`, resumeToken)
        }
        await this.waitReady(deadline)
      }
    }
  }

  /** A command that neither answers nor fails (held in a cluster client's queue) fails after the retry time. */
  bounded<T>(reply: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('Command timed out')), this.retryMs)
    })
    return Promise.race([reply, timeout]).finally(() => clearTimeout(timer))
  }

  private async waitReady(deadline: number): Promise<void> {
    // Always a real pause first: a connection can fail commands before it reports itself closed,
    // and retrying on promises alone would never let that report (an I/O event) through.
    do await sleep(Math.max(0, Math.min(50, deadline - performance.now())))
    while (this.client.status !== 'ready' && performance.now() < deadline)
  }
}
