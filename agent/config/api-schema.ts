import { z } from 'zod';

/**
 * The `api:` section: the operator HTTP API (health, readiness, Prometheus metrics, status,
 * recent results, live events). See docs/operator-api.md.
 */

/** Loopback addresses: only processes on this host reach them, so a token is optional there. */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

export const apiSection = z
  .strictObject({
    enabled: z.boolean().default(true).describe('Serve the operator HTTP API (health, metrics, status).'),
    host: z
      .string()
      .min(1)
      .default('127.0.0.1')
      .describe('Address the operator API listens on; any other than loopback needs token or tokenFile.'),
    port: z
      .number()
      .int()
      .min(0)
      .max(65535)
      .default(7654)
      .describe('Port of the operator API (0 = any free port).'),
    token: z
      .string()
      .min(16, 'at least 16 characters; e.g. the output of `openssl rand -hex 24`')
      .optional()
      .describe(
        'Bearer token every request but /healthz and /readyz must carry (Authorization: Bearer <token>).',
      ),
    tokenFile: z
      .string()
      .min(1)
      .optional()
      .describe('File holding the bearer token (first line, ≥ 16 characters); instead of token.'),
  })
  .superRefine((api, ctx) => {
    if (api.token !== undefined && api.tokenFile !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['tokenFile'],
        message: 'token and tokenFile are mutually exclusive: keep only one of them',
      });
    }
    // An open API off loopback would hand the node's status and log levels to the whole LAN.
    if (api.enabled && !isLoopbackHost(api.host) && api.token === undefined && api.tokenFile === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['host'],
        message: `host ${api.host} is reachable from other machines: add api.token (≥ 16 characters) or api.tokenFile, or listen on 127.0.0.1`,
      });
    }
  })
  .prefault({})
  .describe('The operator HTTP API: /healthz, /readyz, /metrics (Prometheus) and /v1/* status.');

export type ApiConfig = z.output<typeof apiSection>;
