import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { FieldmeshError } from '../../protocol/errors.js';
import type { NodeIdentity } from '../../protocol/identity.js';
import { MeshTokenError, verifyMeshToken } from '../../protocol/mesh-token.js';
import { close, httpUrl, listen } from '../http/listen.js';
import type { Logger } from '../log.js';
import { isTrusted } from './check-peer.js';

/**
 * The node's mesh HTTP API (docs/mesh.md "Mesh API"):
 *
 *   GET /v1/node                → 200 application/cbor, this node's signed record (public)
 *   GET /v1/models/<sha256hex>  → 200 application/octet-stream, the .onnx bytes; needs
 *                                 `Authorization: Fieldmesh <token>` (protocol/mesh-token.ts)
 *                                 from a trusted node, scoped to this path and this node
 *
 * Every error is JSON `{ "error": "<what to do>", "code": "<STABLE_CODE>" }`.
 */
export const MODEL_PATH_PREFIX = '/v1/models/';
const SHA256_HEX = /^[0-9a-f]{64}$/;

export interface MeshApiInit {
  readonly host: string;
  /** 0 picks a free port; read `url` after start(). */
  readonly port: number;
  readonly trustedNodes: 'any' | readonly string[];
  readonly clockSkewMs?: number;
  readonly maxTokenLifetimeMs?: number;
}

export interface MeshApiComponents {
  readonly identity: NodeIdentity;
  readonly logger: Logger;
  /** This node's signed record in wire form (discovery's signedRecord()). */
  nodeRecord(): Uint8Array;
  /** Path of the .onnx file with this digest, or null when this node has no such model. */
  modelFile(sha256: string): string | null | Promise<string | null>;
}

export interface MeshApiServer {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** `http://<host>:<port>` once started. */
  readonly url: string;
  readonly port: number;
}

export class MeshApiListenError extends FieldmeshError {
  constructor(host: string, port: number, cause: unknown) {
    const code = (cause as NodeJS.ErrnoException).code ?? String(cause);
    const advice =
      code === 'EADDRNOTAVAIL'
        ? `no interface of this host has the address ${host}; use one that \`ip -4 addr\` lists`
        : 'choose another port or stop what uses it';
    super('MESH_API_LISTEN_FAILED', `the mesh API cannot listen on ${host}:${port} (${code}); ${advice}`, {
      cause,
    });
  }
}

function sendError(res: ServerResponse, status: number, code: string, error: string): void {
  const body = JSON.stringify({ error, code });
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'content-length': String(Buffer.byteLength(body)),
  };
  if (status === 401) headers['www-authenticate'] = 'Fieldmesh';
  res.writeHead(status, headers).end(body);
}

class Api implements MeshApiServer {
  private readonly server: Server;
  private bound: AddressInfo | undefined;

  constructor(
    private readonly init: MeshApiInit,
    private readonly components: MeshApiComponents,
  ) {
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        components.logger.error({ err, url: req.url }, 'mesh API request failed');
        if (!res.headersSent) sendError(res, 500, 'MESH_API_INTERNAL', 'internal error; see the node log');
        else res.destroy();
      });
    });
    this.server.headersTimeout = 10_000;
    this.server.requestTimeout = 60_000;
  }

  get port(): number {
    if (!this.bound) throw new FieldmeshError('MESH_API_NOT_STARTED', 'the mesh API is not started');
    return this.bound.port;
  }

  get url(): string {
    return httpUrl(this.bound?.address ?? this.init.host, this.port);
  }

  async start(): Promise<void> {
    const { host, port } = this.init;
    this.bound = await listen(this.server, host, port, (err) => new MeshApiListenError(host, port, err));
    this.server.on('error', (err) => this.components.logger.error({ err }, 'mesh API server error'));
  }

  async stop(): Promise<void> {
    await close(this.server);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      return sendError(
        res,
        405,
        'MESH_API_METHOD',
        `${req.method} is not supported; the mesh API is GET only`,
      );
    }
    if (path === '/v1/node') {
      const bytes = this.components.nodeRecord();
      res.writeHead(200, {
        'content-type': 'application/cbor',
        'content-length': String(bytes.length),
        'cache-control': 'no-store',
      });
      res.end(req.method === 'HEAD' ? undefined : bytes);
      return;
    }
    if (path.startsWith(MODEL_PATH_PREFIX)) return this.serveModel(req, res, path);
    sendError(
      res,
      404,
      'MESH_API_NOT_FOUND',
      `no ${path} here; the mesh API serves /v1/node and /v1/models/<sha256>`,
    );
  }

  /** 401 without a valid token, 403 for an untrusted node, 404 for an unknown model. */
  private async serveModel(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    const digest = path.slice(MODEL_PATH_PREFIX.length);
    if (!SHA256_HEX.test(digest)) {
      return sendError(
        res,
        400,
        'MESH_API_BAD_DIGEST',
        'the model digest must be 64 lower-case hex characters (sha256)',
      );
    }
    const auth = req.headers.authorization ?? '';
    if (!auth.startsWith('Fieldmesh ')) {
      return sendError(
        res,
        401,
        'MESH_TOKEN_MISSING',
        'model bytes are for mesh nodes only: send "Authorization: Fieldmesh <token>" signed with your node key',
      );
    }
    let requester: string;
    try {
      requester = verifyMeshToken(auth.slice('Fieldmesh '.length).trim(), {
        audience: this.components.identity.peerId,
        scope: path,
        nowMs: Date.now(),
        clockSkewMs: this.init.clockSkewMs ?? 60_000,
        maxLifetimeMs: this.init.maxTokenLifetimeMs ?? 300_000,
      }).peerId;
    } catch (err) {
      if (!(err instanceof MeshTokenError)) throw err;
      return sendError(res, 401, err.code, `${err.message}; issue a new token for this node and path`);
    }
    if (!isTrusted(this.init.trustedNodes, requester)) {
      this.components.logger.warn(
        { peerId: requester, digest },
        'model request from an untrusted node refused',
      );
      return sendError(
        res,
        403,
        'MESH_PEER_UNTRUSTED',
        `node ${requester} is not in this node's trustedNodes; add it there to share models with it`,
      );
    }
    const file = await this.components.modelFile(digest);
    const size =
      file === null
        ? null
        : await stat(file).then(
            (s) => s.size,
            () => null,
          );
    if (file === null || size === null) {
      return sendError(
        res,
        404,
        'MESH_MODEL_NOT_FOUND',
        `this node has no model with sha256 ${digest}; ask a peer that lists it in its node record`,
      );
    }
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(size) });
    if (req.method === 'HEAD') return void res.end();
    const stream = createReadStream(file);
    stream.on('error', (err) => {
      this.components.logger.error({ err, file }, 'reading a model file for a peer failed');
      res.destroy(err);
    });
    stream.pipe(res);
  }
}

/** Builds the mesh API server; call start() to listen. */
export function createMeshApiServer(init: MeshApiInit, components: MeshApiComponents): MeshApiServer {
  return new Api(init, components);
}
