/** KafkaSource against a real broker: what a batch may hold across a rebalance. */
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { Producer, ProduceAcks } from '@platformatic/kafka'
import { createTopics, releaseKafka, sharedKafka, uniqueName } from '../../test/support/kafka.js'
import { KafkaSource, type SourceBatch } from './kafka-source.js'

after(() => releaseKafka())

test('a member that keeps a partition through a rebalance takes it on from where it was, with no gap, though the client read past it before', async () => {
  const brokers = await sharedKafka()
  const topic = uniqueName('gap')
  await createTopics(brokers, [topic], 2)
  const producer = new Producer<Buffer, Buffer, Buffer, Buffer>({ clientId: 'gap-test', bootstrapBrokers: [brokers], acks: ProduceAcks.ALL })
  let producing = true
  let sent = 0
  const pump = (async () => {
    while (producing) {
      await producer.send({ messages: Array.from({ length: 200 }, (_, i) => ({ topic, partition: i % 2, value: Buffer.from(`{"id":${sent++}}`) })) })
    }
  })()
  const options = { connection: { brokers: [brokers], clientId: 'gap-test', timeoutMs: 10_000 }, topic, group: uniqueName('g'), sessionTimeoutMs: 6000 }
  const quiet = () => {}
  // A reads for a while without taking anything (a busy worker); then B joins and takes a partition.
  const a = new KafkaSource(options, 1_000_000, quiet)
  const b = new KafkaSource(options, 1_000_000, quiet)
  try {
    await a.start()
    await new Promise((r) => setTimeout(r, 3000))
    await b.start()
    await new Promise((r) => setTimeout(r, 8000))
    for (const [name, source] of [['A', a], ['B', b]] as const) {
      const batch = (await source.next(10)) as SourceBatch
      const first = new Map<number, bigint>()
      const last = new Map<number, bigint>()
      for (const m of batch.messages) {
        if (!first.has(m.partition)) first.set(m.partition, m.offset)
        // Each partition in order, with no offset missing.
        const before = last.get(m.partition)
        if (before !== undefined) assert.equal(m.offset, before + 1n, `${name} partition ${m.partition}`)
        last.set(m.partition, m.offset)
      }
      assert.equal(first.size, 1, `${name} owns one of the two partitions`)
      // Nothing was committed: each owner starts at its partition's first message.
      for (const [p, offset] of first) assert.equal(offset, 0n, `${name} takes partition ${p} from its start`)
    }
  } finally {
    producing = false
    await pump
    await producer.close()
    await Promise.all([a.close(), b.close()])
  }
})
