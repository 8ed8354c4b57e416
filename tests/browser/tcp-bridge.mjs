// A TCP port inside a network namespace that leads to a Unix socket
// outside it: the only way out of suite-tcp.mjs's namespace. Run as
// `ip netns exec NS node tcp-bridge.mjs HOST PORT SOCKET`; prints
// "listening" once HOST:PORT accepts. UDP has no way through.

import net from 'node:net';

const [host, port, socket] = process.argv.slice(2);
const server = net.createServer((inside) => {
  const out = net.connect(socket);
  inside.pipe(out);
  out.pipe(inside);
  const end = () => { inside.destroy(); out.destroy(); };
  inside.on('error', end);
  out.on('error', end);
  inside.on('close', end);
  out.on('close', end);
});
server.on('error', (e) => { console.error(`tcp-bridge: ${e.message}`); process.exit(1); });
server.listen(Number(port), host, () => console.log('listening'));
