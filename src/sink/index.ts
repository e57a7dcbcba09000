export { StreamSink } from './stream-sink.js'
