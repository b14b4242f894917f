/**
 * The partner's callback endpoint for `npm run bench`, in a process of its own so that it does not compete with the
 * load generator: ACKs every callback and counts them. GET /stats -> {callbacks, transactions}.
 */
import { createServer } from 'node:http';

const port = Number(process.argv[2] ?? 18090);
let callbacks = 0;
const finished = new Set<string>();

createServer((req, res) => {
  if (req.method === 'GET') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ callbacks, transactions: finished.size }));
    return;
  }
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { header: { status: string }; message: { correlation_id: string } };
    callbacks++;
    if (body.header.status === 'succ') finished.add(body.message.correlation_id);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ message: { ack_status: 'ACK', timestamp: new Date().toISOString(), correlation_id: body.message.correlation_id } }));
  });
}).listen(port, '127.0.0.1', () => process.stdout.write('ready\n'));
