import type {
  EpochList,
  EquivocationList,
  NodeList,
  ServiceInfo,
  SpotCheckList,
} from '../../service/list-types.js';

/**
 * What the page reads, all from the service that served it: the public GET endpoints, no
 * token (the lists are as public as /v1/epochs/latest). One snapshot per refresh.
 */
export interface Snapshot {
  readonly service: ServiceInfo;
  readonly epochs: EpochList;
  readonly nodes: NodeList;
  readonly equivocations: EquivocationList;
  readonly spotchecks: SpotCheckList;
}

/** Enough rows to see what is going on; the JSON endpoints page through the rest. */
const ROWS = 20;

async function getJson<T>(path: string): Promise<T> {
  const res = await fetch(path, { headers: { accept: 'application/json' }, cache: 'no-store' });
  if (!res.ok) throw new Error(`${path} answered HTTP ${res.status}`);
  return (await res.json()) as T;
}

export async function loadSnapshot(): Promise<Snapshot> {
  const [service, epochs, nodes, equivocations, spotchecks] = await Promise.all([
    getJson<ServiceInfo>('/v1/service'),
    getJson<EpochList>(`/v1/epochs?limit=${ROWS}`),
    getJson<NodeList>(`/v1/nodes?limit=${ROWS * 5}`),
    getJson<EquivocationList>(`/v1/equivocations?limit=${ROWS}`),
    getJson<SpotCheckList>(`/v1/spotchecks?limit=${ROWS}`),
  ]);
  return { service, epochs, nodes, equivocations, spotchecks };
}
