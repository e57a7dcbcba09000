/**
 * A TCP proxy in front of a real Redis that can lose a reply: the one network fault a test cannot
 * otherwise produce on demand (a command applied by Redis whose answer never arrives).
 */
import { createServer, connect, type Server, type Socket } from 'node:net'

export class CuttingProxy {
  port = 0
  private server: Server | null = null
  private readonly sockets = new Set<Socket>()
  /** The next reply from Redis is dropped and the connection closed. */
  cutNextReply = false
  /** New connections are closed at once (Redis "down" as seen through the proxy). */
  refuse = false
  cuts = 0

  constructor(private readonly target: number) {}

  start(): Promise<this> {
    this.server = createServer((client) => {
      if (this.refuse) return void client.destroy()
      const upstream = connect(this.target, '127.0.0.1')
      this.sockets.add(client).add(upstream)
      const close = () => {
        client.destroy()
        upstream.destroy()
        this.sockets.delete(client)
        this.sockets.delete(upstream)
      }
      client.on('data', (b) => upstream.write(b))
      upstream.on('data', (b) => {
        if (this.cutNextReply) {
          this.cutNextReply = false
          this.cuts++
          return close()
        }
        client.write(b)
      })
      client.on('close', close).on('error', close)
      upstream.on('close', close).on('error', close)
    })
    return new Promise((resolve) => this.server!.listen(0, '127.0.0.1', () => {
      this.port = (this.server!.address() as { port: number }).port
      resolve(this)
    }))
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy()
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()))
  }
}
