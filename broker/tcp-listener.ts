import type { IncomingMessage } from 'node:http';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import type { Logger } from 'pino';
import { createWebSocketStream, WebSocketServer } from 'ws';
import { BrokerListenError } from './errors.js';

/** Certificate material of a TLS or WSS listener, already read from its files. */
export interface TlsMaterial {
  cert: Buffer;
  key: Buffer;
  /** CA bundle for client certificates; with `requireClientCert` only its clients get in. */
  ca?: Buffer;
  requireClientCert?: boolean;
}

export interface TcpListenerInit {
  /** tcp (default), tls, ws (WebSocket, MQTT over `path`) or wss (WebSocket over TLS). */
  kind?: 'tcp' | 'tls' | 'ws' | 'wss';
  host: string;
  /** 0 asks the OS for a free (ephemeral) port. */
  port: number;
  /** How long stop() lets connections close on their own before destroying them. */
  closeGraceMs: number;
  /** For tls and wss. */
  tls?: TlsMaterial;
  /** For ws and wss: the HTTP path clients open (default /mqtt). */
  path?: string;
  /**
   * Socket buffer size past which a write reports back-pressure (Node's default is 16 KiB).
   * aedes holds up a delivery until a subscriber whose write reported it drains; a bigger mark
   * lets the broker's own backlog limits decide instead.
   */
  highWaterMark?: number;
}

export interface TcpListenerComponents {
  logger: Logger;
  /** Takes over every accepted connection (already tuned); the listener only tracks it for stop(). */
  onConnection: (stream: Duplex, request?: IncomingMessage) => void;
  /** Asked for every new TCP connection before anything else; false closes it at once. */
  admit?: (socket: net.Socket) => boolean;
  /** Told about TLS handshakes that failed (bad certificate, plain TCP on a TLS port...). */
  onTlsError?: (err: Error, socket: net.Socket) => void;
}

export interface ListenAddress {
  host: string;
  port: number;
}

/** An accept loop that tunes each socket for MQTT and can always be shut down. */
export interface TcpListener {
  readonly kind: 'tcp' | 'tls' | 'ws' | 'wss';
  /** The WebSocket path, for ws and wss. */
  readonly path: string | undefined;
  /** Resolves once listening; rejects with BrokerListenError (BROKER_LISTEN_FAILED). */
  start(): Promise<void>;
  /** Stops accepting at once, destroys sockets still open after the grace, never hangs. */
  stop(): Promise<void>;
  /** Where the listener is bound, or null when it is not listening. */
  address(): ListenAddress | null;
  /** TCP connections accepted and not yet closed. */
  readonly connections: number;
}

export function createTcpListener(init: TcpListenerInit, components: TcpListenerComponents): TcpListener {
  const log = components.logger;
  const kind = init.kind ?? 'tcp';
  const sockets = new Set<net.Socket>();
  let server: net.Server | null = null;
  let bound: ListenAddress | null = null;
  let closing: Promise<void> | null = null;

  const hand = (stream: Duplex, request?: IncomingMessage): void => {
    try {
      components.onConnection(stream, request);
    } catch (err) {
      log.warn({ err }, 'connection handler failed; closing the connection');
      stream.destroy();
    }
  };

  /** Every listener kind sees the raw TCP socket first: admission, Nagle off, tracking. */
  const accept = (socket: net.Socket): void => {
    if (components.admit !== undefined && !components.admit(socket)) {
      socket.destroy();
      return;
    }
    // MQTT is request/response with small packets: with Nagle on, a PUBLISH after an
    // unacknowledged one waits for the peer's delayed ACK (DESIGN.md measured ~24 ms p50 on
    // loopback against ~0.8 ms with TCP_NODELAY). aedes never sets it, so we do, per socket.
    socket.setNoDelay(true);
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    if (kind === 'tcp') hand(socket);
  };

  const build = (): net.Server => {
    const serverOptions = init.highWaterMark === undefined ? {} : { highWaterMark: init.highWaterMark };
    if (kind === 'tcp') return net.createServer(serverOptions, accept);
    const material = init.tls;
    const tlsOptions: tls.TlsOptions = material
      ? {
          ...serverOptions,
          cert: material.cert,
          key: material.key,
          ...(material.ca === undefined ? {} : { ca: material.ca }),
          requestCert: material.requireClientCert === true,
          rejectUnauthorized: material.requireClientCert === true,
        }
      : {};
    let created: net.Server;
    if (kind === 'tls') {
      created = tls.createServer(tlsOptions, (socket) => hand(socket));
    } else {
      created = kind === 'wss' ? https.createServer(tlsOptions) : http.createServer();
      const wss = new WebSocketServer({ server: created as http.Server, path: init.path ?? '/mqtt' });
      wss.on('connection', (ws, request) => hand(createWebSocketStream(ws), request));
      wss.on('error', (err) => log.warn({ err: err.message }, 'websocket server error'));
    }
    created.on('connection', accept);
    created.on('tlsClientError', (err: Error, socket: net.Socket) => components.onTlsError?.(err, socket));
    return created;
  };

  return {
    kind,
    path: kind === 'ws' || kind === 'wss' ? (init.path ?? '/mqtt') : undefined,
    get connections() {
      return sockets.size;
    },

    address: () => (bound === null ? null : { ...bound }),

    async start() {
      if (server !== null) return;
      const candidate = build();
      await new Promise<void>((resolve, reject) => {
        const onError = (err: Error) => {
          candidate.off('listening', onListening);
          reject(new BrokerListenError(init.host, init.port, err));
        };
        const onListening = () => {
          candidate.off('error', onError);
          resolve();
        };
        candidate.once('error', onError);
        candidate.once('listening', onListening);
        candidate.listen({ host: init.host, port: init.port });
      });
      candidate.on('error', (err) => log.warn({ err }, 'listener error'));
      const addr = candidate.address() as net.AddressInfo;
      bound = { host: addr.address, port: addr.port };
      server = candidate;
      closing = null;
    },

    stop() {
      if (closing !== null) return closing;
      const current = server;
      if (current === null) return Promise.resolve();
      closing = new Promise<void>((resolve) => {
        // The server emits 'close' only after its last connection ends, hence the grace timer.
        const grace = setTimeout(() => {
          if (sockets.size > 0)
            log.debug({ sockets: sockets.size }, 'destroying connections left after the grace');
          for (const socket of sockets) socket.destroy();
        }, init.closeGraceMs);
        current.close(() => {
          clearTimeout(grace);
          // Every handle is closed by now; their 'close' events may still be queued.
          sockets.clear();
          server = null;
          bound = null;
          resolve();
        });
        // An HTTP server keeps idle keep-alive sockets; they hold no MQTT session.
        if ('closeIdleConnections' in current) (current as http.Server).closeIdleConnections();
      });
      return closing;
    },
  };
}
