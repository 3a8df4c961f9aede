import type net from 'node:net';

/**
 * Whether TCP_NODELAY was set on `socket`. Node has no public getter and the OS exposes the
 * option to getsockopt only, so this reads the flag Node's `setNoDelay` records under its
 * internal `kSetNoDelay` symbol (present on Node 20 and later). Test-only introspection:
 * throws when the symbol is missing, so a Node upgrade that drops it fails loudly, not falsely.
 */
export function hasNoDelay(socket: net.Socket): boolean {
  const key = Object.getOwnPropertySymbols(socket).find((s) => s.description === 'kSetNoDelay');
  if (key === undefined) throw new Error('this Node version does not record TCP_NODELAY under kSetNoDelay');
  return (socket as unknown as Record<symbol, unknown>)[key] === true;
}
