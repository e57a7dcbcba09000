/** A real three-node Redis Cluster on loopback (no replicas), for the cluster tests. */
import { spawnSync } from 'node:child_process'
import { Redis } from 'ioredis'
import { RedisServer } from './redis-server.js'

export class RedisCluster {
  readonly nodes: RedisServer[]

  constructor(size = 3) {
    this.nodes = Array.from({ length: size }, () => new RedisServer({ args: ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '2000'] }))
  }

  get url(): string {
    return this.nodes[0].url
  }

  async start(): Promise<this> {
    for (const n of this.nodes) await n.start()
    const r = spawnSync('redis-cli', ['--cluster', 'create', ...this.nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', '0', '--cluster-yes'], { encoding: 'utf8' })
    if (r.status !== 0) throw new Error(`redis-cli --cluster create failed:\n${r.stdout}${r.stderr}`)
    // Slots are assigned at once, but every node must agree before keys can be routed.
    const deadline = Date.now() + 20_000
    for (const n of this.nodes) {
      const c = new Redis(n.port, '127.0.0.1')
      try {
        while (!/cluster_state:ok/.test(await c.cluster('INFO'))) {
          if (Date.now() > deadline) throw new Error('cluster did not become ready in 20 s')
          await new Promise((resolve) => setTimeout(resolve, 100))
        }
      } finally {
        c.disconnect()
      }
    }
    return this
  }

  async dispose(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.dispose()))
  }
}
