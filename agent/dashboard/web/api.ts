/**
 * Requests to the agent that served the page. With a token configured, every data request
 * carries it as a bearer header; only the event stream, which EventSource opens without
 * headers, carries it as `?token=` (the API accepts that on /v1/events alone).
 */
const TOKEN_KEY = 'fieldmesh.api-token';

export class Unauthorized extends Error {
  constructor() {
    super('the API needs a token');
    this.name = 'Unauthorized';
  }
}

export function savedToken(): string | null {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function saveToken(token: string): void {
  sessionStorage.setItem(TOKEN_KEY, token);
}

export function forgetToken(): void {
  sessionStorage.removeItem(TOKEN_KEY);
}

export async function getJson<T>(path: string): Promise<T> {
  const token = savedToken();
  const headers: Record<string, string> = { accept: 'application/json' };
  if (token !== null) headers.authorization = `Bearer ${token}`;
  const res = await fetch(path, { headers, cache: 'no-store' });
  if (res.status === 401) throw new Unauthorized();
  if (!res.ok) throw new Error(`${path}: HTTP ${res.status}`);
  return (await res.json()) as T;
}

export function eventsUrl(): string {
  const token = savedToken();
  return token === null ? '/v1/events' : `/v1/events?token=${encodeURIComponent(token)}`;
}
