import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createTcpListener, type TcpListener } from '../../broker/tcp-listener.js';
import { quietLogger } from '../helpers/broker.js';
import { hasNoDelay } from '../helpers/socket.js';
import { waitForEvent, withTimeout } from '../helpers/wait-for.js';

describe('tcp listener', () => {
  const cleanup: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const fn of cleanup.splice(0).reverse()) await fn();
  });

  function listen(onConnection: (socket: net.Socket) => void, closeGraceMs = 200): TcpListener {
    const listener = createTcpListener(
      { host: '127.0.0.1', port: 0, closeGraceMs },
      { logger: quietLogger, onConnection: (stream) => onConnection(stream as net.Socket) },
    );
    cleanup.push(() => listener.stop());
    return listener;
  }

  function dial(port: number): net.Socket {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.on('error', () => undefined);
    cleanup.push(() => void socket.destroy());
    return socket;
  }

  it('sets TCP_NODELAY on every accepted socket before handing it over', async () => {
    const accepted: net.Socket[] = [];
    const handed = new Promise<void>((resolve) => {
      const listener = listen((socket) => {
        accepted.push(socket);
        if (accepted.length === 2) resolve();
      });
      void listener.start().then(() => {
        const { port } = listener.address()!;
        dial(port);
        dial(port);
      });
    });
    await withTimeout(handed, 'two accepted connections');
    expect(accepted.map(hasNoDelay)).toEqual([true, true]);
  });

  it('reports where it is bound and forgets it after stop', async () => {
    const listener = listen(() => undefined);
    expect(listener.address()).toBeNull();
    await listener.start();
    const addr = listener.address()!;
    expect(addr.host).toBe('127.0.0.1');
    expect(addr.port).toBeGreaterThan(0);
    await listener.stop();
    expect(listener.address()).toBeNull();
  });

  it('destroys connections still open after the grace, so stop never hangs', async () => {
    let serverSide: net.Socket | undefined;
    const listener = listen((socket) => {
      serverSide = socket;
    }, 100);
    await listener.start();
    const client = dial(listener.address()!.port);
    await waitForEvent(client, 'connect');
    // The handler ignores the socket and the client stays silent: only the grace can end it.
    const clientClosed = waitForEvent(client, 'close');
    await withTimeout(listener.stop(), 'stop to resolve');
    await clientClosed;
    expect(serverSide?.destroyed).toBe(true);
    expect(listener.connections).toBe(0);
  });
});
