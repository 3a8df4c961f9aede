// The aedes persistence packages ship no type declarations; these cover what fieldmesh calls.
// aedes itself types `persistence` as `any`, so the instances stay opaque here.

declare module 'aedes-persistence-level' {
  import type { ClassicLevel } from 'classic-level';

  /** An aedes persistence over an open level database; `destroy()` closes the database. */
  export default function aedesPersistenceLevel(db: ClassicLevel<string, Buffer>): {
    destroy(): Promise<void>;
  };
}

declare module 'aedes-persistence-redis' {
  import type { Redis } from 'ioredis';

  export interface AedesPersistenceRedisOptions {
    /** A connection to use instead of opening one; `destroy()` disconnects it. */
    conn: Redis;
    /** Most queued messages handed to a persistent session at each CONNECT (default 1000). */
    maxSessionDelivery?: number;
  }

  export default function aedesPersistenceRedis(options: AedesPersistenceRedisOptions): {
    destroy(): Promise<void>;
  };
}
