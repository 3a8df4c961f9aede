import { z } from 'zod';
import { peerId } from './broker-schema.js';

/**
 * The `mesh:` section: discovery of peers on the LAN over mDNS, the node's mesh API (signed
 * node record, model files for trusted peers) and offloading work to peers. See docs/mesh.md.
 */

const ms = (fallback: number, min = 1) => z.number().int().min(min).default(fallback);

const IPV4 = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;

const offloadSection = z
  .strictObject({
    slots: z
      .number()
      .int()
      .min(0)
      .max(64)
      .default(1)
      .describe('Model calls this node runs at once for peers; 0 = take no offloaded work.'),
    maxInFlightPerPeer: z
      .number()
      .int()
      .min(1)
      .max(256)
      .default(4)
      .describe('Requests this node keeps in flight to one peer.'),
    timeoutMs: ms(2_000, 50).describe('A request a peer has not answered by then is retried on another.'),
    voucherEvery: z
      .number()
      .int()
      .min(1)
      .default(50)
      .describe('Sign a cumulative voucher for a provider after this many answered requests...'),
    voucherIntervalMs: ms(5_000, 100).describe('...or this long after the last one, whichever comes first.'),
  })
  .prefault({})
  .describe('Handing windows to peers and taking theirs.');

export const meshSection = z
  .strictObject({
    enabled: z
      .boolean()
      .default(false)
      .describe('Find peers on the LAN over mDNS and share work with them (needs multicast on the LAN).'),
    interface: z
      .string()
      .regex(IPV4, 'an IPv4 address of this host, e.g. 192.168.1.20 or 127.0.0.1')
      .optional()
      .describe(
        'IPv4 address of the interface mDNS uses (and the one announced); every interface if absent.',
      ),
    mdnsPort: z.number().int().min(1).max(65535).default(5353).describe('UDP port of mDNS.'),
    serviceTag: z
      .string()
      .regex(/^_[a-z0-9-]{1,48}\._udp\.local$/, 'like _fieldmesh._udp.local')
      .default('_fieldmesh._udp.local')
      .describe('mDNS service name; meshes with different tags ignore each other.'),
    queryIntervalMs: ms(1_000, 100).describe('How often this node asks the LAN who is there.'),
    refreshMs: ms(1_000, 100).describe("How often each peer's signed record is fetched again."),
    peerTimeoutMs: ms(3_500, 200).describe('A peer with no fresh verified record for this long is dropped.'),
    maxSkewMs: ms(120_000, 0).describe("Tolerated difference between a peer's clock and this node's."),
    trustedNodes: z
      .union([z.literal('any'), z.array(peerId)])
      .default('any')
      .describe('Peers this node trusts once their record verifies: "any" valid key, or a list of node ids.'),
    api: z
      .strictObject({
        host: z.string().min(1).default('0.0.0.0').describe('Address the mesh API listens on.'),
        port: z
          .number()
          .int()
          .min(0)
          .max(65535)
          .default(8721)
          .describe('Port of the mesh API (0 = any free).'),
      })
      .prefault({})
      .describe("The mesh API peers read this node's signed record and model files from."),
    electionWaitMs: ms(3_000, 0).describe(
      'With broker: auto, how long to listen for a peer that hosts the site broker before electing one.',
    ),
    offload: offloadSection,
  })
  .prefault({})
  .describe('The mesh: peers on the LAN, the site broker they agree on, and work shared between them.');

export type MeshConfig = z.output<typeof meshSection>;
