// The same no-op endpoint on fastify (its JSON body parsing off: serve reads raw bytes too).
import Fastify from 'fastify'
const app = Fastify({ logger: false, bodyLimit: 1 << 20 })
app.removeAllContentTypeParsers()
app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body))
app.post('/event', async (req) => ({ status: 'duplicate', bytes: req.body.length }))
await app.listen({ port: Number(process.argv[2]), host: '127.0.0.1' })
console.error('listening')
