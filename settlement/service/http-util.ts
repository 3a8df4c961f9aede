import type { IncomingMessage, ServerResponse } from 'node:http';

export class BodyTooLargeError extends Error {}

/** The request body, refusing (without buffering the rest) anything beyond `limit` bytes. */
export async function readBody(req: IncomingMessage, limit: number): Promise<Uint8Array> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) throw new BodyTooLargeError();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new BodyTooLargeError();
    chunks.push(chunk);
  }
  return new Uint8Array(Buffer.concat(chunks, size));
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

export function sendCbor(res: ServerResponse, bytes: Uint8Array): void {
  res.writeHead(200, { 'content-type': 'application/cbor', 'content-length': bytes.length });
  res.end(bytes);
}

/** A refusal in the one shape every endpoint uses: {"error": code, "detail": sentence}. */
export function sendError(
  res: ServerResponse,
  status: number,
  error: string,
  detail: string,
  headers: Record<string, string> = {},
): void {
  // A refusal mid-upload must not leave the client writing into a socket nobody reads.
  if (!res.req.complete) res.setHeader('connection', 'close');
  sendJson(res, status, { error, detail }, headers);
}

export const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
