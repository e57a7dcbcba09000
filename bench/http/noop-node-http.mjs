// A no-op POST endpoint on node:http: reads the body, answers a small JSON. The floor for serve's HTTP layer.
import { createServer } from 'node:http'
const server = createServer((req, res) => {
  const chunks = []
  req.on('data', (c) => chunks.push(c))
  req.on('end', () => {
    const body = JSON.stringify({ status: 'duplicate', bytes: Buffer.concat(chunks).length })
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) })
    res.end(body)
  })
})
server.listen(Number(process.argv[2]), '127.0.0.1', () => console.error('listening'))
