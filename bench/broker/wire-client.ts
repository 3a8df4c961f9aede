import net from 'node:net';
import type { LoadClient } from './fixture.js';
import {
  CONNACK,
  DISCONNECT,
  decodePublish,
  encodeConnect,
  encodePuback,
  encodePublish,
  encodeSubscribe,
  PacketSplitter,
  PUBACK,
  PUBLISH,
  SUBACK,
} from './wire-codec.js';

/**
 * A minimal MQTT 3.1.1 client over one TCP socket with Nagle off, for the load generator: just
 * what a publisher and a subscriber need, with writes corked per turn of the event loop so a
 * burst of PUBLISHes or PUBACKs leaves in few syscalls. Not a general client: no keepalive, no
 * reconnect, no retries, no QoS 2.
 */
export class WireClient {
  /** Called for every PUBLISH received (the PUBACK of a QoS 1 one is sent right after). */
  onPublish: ((payload: Buffer) => void) | null = null;
  private readonly acks: (((err?: Error) => void) | undefined)[] = new Array(65_536);
  private nextId = 1;
  private corked = false;
  private waiter: { type: number; resolve: (body: Buffer) => void } | null = null;
  private closed: Error | null = null;

  private constructor(private readonly socket: net.Socket) {
    const splitter = new PacketSplitter();
    socket.on('data', (chunk: Buffer) => {
      this.cork();
      for (const p of splitter.push(chunk)) this.dispatch(p.type, p.flags, p.body);
    });
    socket.on('error', (err) => this.fail(err));
    socket.on('close', () => this.fail(new Error('connection closed by the broker')));
  }

  static async connect(url: string, who: LoadClient): Promise<WireClient> {
    const { hostname, port } = new URL(url);
    const socket = net.connect({ host: hostname, port: Number(port), noDelay: true });
    const client = new WireClient(socket);
    const connack = client.expect(CONNACK);
    socket.write(encodeConnect(who));
    const body = await connack;
    if (body[1] !== 0) {
      socket.destroy();
      throw new Error(`${who.clientId}: CONNECT refused with CONNACK code ${body[1]}`);
    }
    return client;
  }

  /** Subscribes to one filter; resolves with the granted QoS (0x80 when refused). */
  async subscribe(filter: string, qos: 0 | 1): Promise<number> {
    const suback = this.expect(SUBACK);
    this.socket.write(encodeSubscribe(this.takeId(), filter, qos));
    return (await suback)[2] as number;
  }

  /** At QoS 1 `onAck` runs on the PUBACK; at QoS 0 nothing is called back. */
  publish(topic: Buffer, payload: Buffer, qos: 0 | 1, onAck?: (err?: Error) => void): void {
    if (this.closed !== null) {
      onAck?.(this.closed);
      return;
    }
    const id = qos === 1 ? this.takeId() : 0;
    if (qos === 1) this.acks[id] = onAck ?? noop;
    this.cork();
    this.socket.write(encodePublish(topic, payload, qos, id));
  }

  async end(): Promise<void> {
    if (this.closed !== null) return;
    this.closed = new Error('client ended');
    await new Promise<void>((resolve) => this.socket.end(DISCONNECT, resolve));
    this.socket.destroy();
  }

  private dispatch(type: number, flags: number, body: Buffer): void {
    if (type === PUBLISH) {
      const { qos, id, payload } = decodePublish({ type, flags, body });
      this.onPublish?.(payload);
      if (qos === 1) this.socket.write(encodePuback(id));
    } else if (type === PUBACK) {
      const id = body.readUInt16BE(0);
      const ack = this.acks[id];
      this.acks[id] = undefined;
      ack?.();
    } else if (this.waiter?.type === type) {
      const { resolve } = this.waiter;
      this.waiter = null;
      resolve(body);
    }
  }

  private expect(type: number): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      if (this.closed !== null) return reject(this.closed);
      this.waiter = { type, resolve };
      this.rejectWaiter = reject;
    });
  }

  private rejectWaiter: ((err: Error) => void) | null = null;

  private takeId(): number {
    const id = this.nextId;
    this.nextId = id === 65_535 ? 1 : id + 1;
    return id;
  }

  /** Holds writes until the end of this turn of the event loop, then sends them together. */
  private cork(): void {
    if (this.corked) return;
    this.corked = true;
    this.socket.cork();
    process.nextTick(() => {
      this.corked = false;
      this.socket.uncork();
    });
  }

  private fail(err: Error): void {
    if (this.closed !== null) return;
    this.closed = err;
    this.waiter = null;
    this.rejectWaiter?.(err);
    for (let id = 0; id < this.acks.length; id++) {
      const ack = this.acks[id];
      if (ack === undefined) continue;
      this.acks[id] = undefined;
      ack(err);
    }
  }
}

const noop = () => {};
