/**
 * The baseline broker of the broker suite: plain aedes as its README shows it — no hooks, memory
 * persistence — behind a TCP server that turns Nagle off like the embedded broker's listener
 * does, so the comparison is about what the embedded broker adds, not about TCP_NODELAY.
 *
 * Usage: node aedes-server.js. Prints `ready <port>` once listening on 127.0.0.1; exits on SIGTERM.
 */
import net from 'node:net';
import { Aedes } from 'aedes';

const aedes = new Aedes();
await aedes.listen();
const server = net.createServer((socket) => {
  socket.setNoDelay(true);
  aedes.handle(socket);
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
process.stdout.write(`ready ${(server.address() as net.AddressInfo).port}\n`);
process.once('SIGTERM', () => {
  server.close();
  // aedes.close ends every client; exit even if one hangs, but normally (so --cpu-prof is written).
  const exit = setTimeout(() => process.exit(0), 2000);
  aedes.close(() => {
    clearTimeout(exit);
    process.exit(0);
  });
});
