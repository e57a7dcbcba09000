/** @module The key, window and store options (--backend and its settings), shared by every command that deduplicates. */
import { Option, type Command } from 'commander'
import type { Clock, CoreOptions } from '../core/dedup-core.js'
import type { RedisLayoutName } from '../store/redis/index.js'
import { openStore as openStoreFor, type OpenedStore, type StoreOptions } from '../store/open.js'
import type { Reservation } from '../store/redis/options.js'
import { parseDuration, parseFieldList, parsePositiveInt, parseProbability } from './parse.js'
import { DEFAULT_KEY_FIELDS } from '../key/canonical.js'
import { InvalidArgumentError } from 'commander'
import { parseBrokers, type Compression } from '../kafka/client.js'

export interface BackendOptions {
  backend: 'memory' | 'redis'
  redisUrl: string
  redisLayout: RedisLayoutName
  keyPrefix: string
  redisSets: number
  redisBuckets: number
  redisCluster?: boolean
  redisRetry: number
  redisResume?: string
  // Shared with the key and window options.
  key: string[]
  window: number
  clock: Clock
  timeField: string
  state?: string
  firstSeen: boolean
  approx?: boolean
  fpRate: number
}

export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379/0'

function parsePowerOfTwo(text: string): number {
  const n = Number(text)
  if (!Number.isInteger(n) || n < 1 || n > 2 ** 24 || (n & (n - 1)) !== 0) throw new InvalidArgumentError(`expected a power of two from 1 to 16777216, got "${text}"`)
  return n
}

function parseBuckets(text: string): number {
  const n = Number(text)
  if (!Number.isInteger(n) || n < 1 || n > 64) throw new InvalidArgumentError(`expected a whole number from 1 to 64, got "${text}"`)
  return n
}

/** What makes two events the same. */
export function addKeyFieldOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('-k, --key <fields>', 'key fields, comma-separated').argParser(parseFieldList).default([...DEFAULT_KEY_FIELDS], DEFAULT_KEY_FIELDS.join(',')))
    .option('--allow-missing', 'treat a missing key field as null instead of rejecting the event')
}

/** What makes two events the same, and for how long. */
export function addKeyOptions(cmd: Command): Command {
  return addKeyFieldOptions(cmd)
    .addOption(new Option('-w, --window <duration>', 'how long a key is remembered: ms, s, m, h or d').argParser(parseDuration).default(parseDuration('7d'), '7d'))
    .addOption(new Option('--clock <clock>', 'measure the window by arrival (ingest) or by the event time field (event)').choices(['ingest', 'event']).default('ingest'))
    .option('--time-field <field>', 'the event time field for --clock event', 'event_datetime')
}

/** Where seen keys are remembered. */
export function addStoreOptions(cmd: Command, env: NodeJS.ProcessEnv): Command {
  return cmd
    .option('--state <file>', 'load remembered keys from FILE at start, save them at the end and on SIGINT/SIGTERM')
    .option('--no-first-seen', 'do not keep first-occurrence positions (saves the 2 MiB cache of recent ones)')
    .option('--approx', 'remember keys in Bloom filters instead: less memory, but a share (--fp-rate) of unique events is dropped')
    .addOption(new Option('--fp-rate <rate>', 'with --approx: the share of unique events that may be dropped').argParser(parseProbability).default(0.001))
    .addOption(new Option('--backend <name>', 'where seen keys are remembered: this process (memory) or a shared Redis').choices(['memory', 'redis']).default('memory'))
    .addOption(new Option('--redis-url <url>', 'Redis to use with --backend redis: redis[s]://[[user]:password@]host[:port][/db] (give a password through $REDIS_URL instead: `ps` shows the command line; messages never show it)').default(env.REDIS_URL ?? DEFAULT_REDIS_URL, '$REDIS_URL or ' + DEFAULT_REDIS_URL))
    .addOption(new Option('--redis-layout <layout>', 'compact: about 10 B a key in bucketed intsets; simple: one SET NX key per event (~170 B)').choices(['compact', 'simple']).default('compact'))
    .option('--key-prefix <prefix>', 'prefix of every Redis key, so that several pipelines can share one Redis', 'kion:')
    .addOption(new Option('--redis-sets <n>', 'compact layout: sets per time bucket, a power of two; about keys per window / buckets / 300').argParser(parsePowerOfTwo).default(65536))
    .addOption(new Option('--redis-buckets <n>', 'compact layout: time buckets per window; a key is forgotten at most a bucket after the window').argParser(parseBuckets).default(8))
    .option('--redis-cluster', 'the Redis URL names a node of a Redis Cluster')
    .addOption(new Option('--redis-retry <duration>', 'how long to wait for a lost Redis to come back before stopping').argParser(parseDuration).default(parseDuration('10s'), '10s'))
    .option('--redis-resume <token>', 'after a run stopped by Redis: deliver the events its last batch remembered but never output')
}

/** Reservations (the main job and serve; consume has its occurrences). */
export function addLeaseOption(cmd: Command): Command {
  return cmd.addOption(
    new Option('--lease <duration>', 'with Redis: how long a new key stays reserved for this process until its output holds the event; a copy seen elsewhere meanwhile waits, and after it counts as new (this process died)')
      .argParser(parseDuration)
      .default(parseDuration('30s'), '30s'),
  )
}

export interface KafkaCliOptions {
  brokers: string[]
  topic: string
  kafkaTimeout: number
  compression: Compression
}

function parseBrokerList(text: string): string[] {
  try {
    return parseBrokers(text)
  } catch (e) {
    throw new InvalidArgumentError((e as Error).message)
  }
}

/** The broker and the raw topic, shared by `serve --to kafka` and `consume`. */
export function addKafkaOptions(cmd: Command, env: NodeJS.ProcessEnv): Command {
  return cmd
    .addOption(new Option('--brokers <list>', 'Kafka brokers, host:port comma-separated').argParser(parseBrokerList).default(parseBrokers(env.KAFKA_BROKERS ?? DEFAULT_BROKERS), '$KAFKA_BROKERS or ' + DEFAULT_BROKERS))
    .option('--topic <name>', 'the raw topic: every accepted event, keyed by its key digest', DEFAULT_RAW_TOPIC)
    .addOption(new Option('--compression <codec>', 'compression of the record batches written to Kafka').choices(['none', 'gzip', 'snappy', 'lz4']).default(env.KION_KAFKA_COMPRESSION ?? 'lz4'))
    .addOption(new Option('--kafka-timeout <duration>', 'how long a Kafka request may take before it fails (serve: answered 503)').argParser(parseDuration).default(parseDuration('5s'), '5s'))
}

export const DEFAULT_BROKERS = '127.0.0.1:9092'
export const DEFAULT_RAW_TOPIC = 'kion.events.raw'

/** The store options of a command line, as the store (and the library) takes them. */
export function storeOptionsOf(o: BackendOptions, recover?: boolean | 'occurrences', reserve?: Reservation): StoreOptions {
  return {
    backend: o.backend,
    windowMs: o.window,
    clock: o.clock,
    keyFields: o.key,
    timeField: o.timeField,
    firstSeen: o.firstSeen,
    approx: o.approx === true,
    fpRate: o.fpRate,
    state: o.state,
    redis: { url: o.redisUrl, cluster: o.redisCluster === true, layout: o.redisLayout, prefix: o.keyPrefix, sets: o.redisSets, buckets: o.redisBuckets, retryMs: o.redisRetry, resume: o.redisResume },
    recover,
    reserve,
  }
}

/** Opens the store the options name (see store/open.ts); for Redis, connects before anything else happens. */
export function openStore(o: BackendOptions, server: { recover?: boolean | 'occurrences'; reserve?: Reservation } = {}): Promise<OpenedStore> {
  return openStoreFor(storeOptionsOf(o, server.recover, server.reserve))
}

/** What the core needs to frame and key: the key fields, the clock and the longest event. */
export function coreOptionsOf(o: BackendOptions & { allowMissing?: boolean; maxEventBytes: number }): CoreOptions {
  return { keying: { keyFields: o.key, allowMissing: o.allowMissing === true, timeField: o.clock === 'event' ? o.timeField : null }, clock: o.clock, maxEventBytes: o.maxEventBytes }
}

export interface PostgresCliOptions {
  pgUrl?: string
  pgTable: string
  pgRetention?: number
  pgRetry: number
  pgConnections: number
}

/** The PostgreSQL sink's options (`--to postgres`), shared by the main job, serve and consume. */
export function addPostgresOptions(cmd: Command, retryDefault: string): Command {
  return cmd
    .option('--pg-url <url>', 'with --to postgres: the database, postgres://user:password@host:port/db (default: $PGURL, else $DATABASE_URL, else postgres://127.0.0.1:5432/postgres; the environment keeps a password out of `ps`)')
    .option('--pg-table <name>', 'with --to postgres: the events table, created when missing (with <name>_rejects, _offsets, _checkpoints)', 'kion_events')
    .addOption(new Option('--pg-retention <duration>', 'with --to postgres: drop day partitions older than this (checked at start and hourly); default: keep every day').argParser(parseDuration))
    .addOption(new Option('--pg-retry <duration>', 'with --to postgres: how long a batch is tried again while the database is away before the run stops').argParser(parseDuration).default(parseDuration(retryDefault), retryDefault))
    .addOption(new Option('--pg-connections <n>', 'with --to postgres: transactions in flight at once, one a connection').argParser(parsePositiveInt).default(2))
}

/** The PostgreSQL writer a command line asks for; the URL names no password in any message. */
export async function openPgWriter(o: PostgresCliOptions & { key: string[]; timeField: string }, env: NodeJS.ProcessEnv, log?: (record: Record<string, unknown>) => void): Promise<import('../sink/postgres/writer.js').PgWriter> {
  const { PgWriter } = await import('../sink/postgres/writer.js')
  const { pgUrlOf } = await import('../sink/postgres/connection.js')
  const writer = await PgWriter.open({
    url: pgUrlOf(o.pgUrl, env),
    table: o.pgTable,
    rules: { keyFields: o.key, timeField: o.timeField, retentionMs: o.pgRetention ?? null, now: Date.now },
    retryMs: o.pgRetry,
    connections: o.pgConnections,
    ...(log !== undefined ? { log } : {}),
  })
  writer.startMaintenance()
  return writer
}
