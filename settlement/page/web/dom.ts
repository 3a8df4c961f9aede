/**
 * The only way the page builds elements: attributes through setAttribute, text through
 * textContent (Node.append of a string), so a node name or a reason that reads
 * `<img src=x onerror=…>` stays the text it is.
 */
type Child = Node | string | number | null | undefined;

export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Readonly<Record<string, string>> = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  for (const c of children) {
    if (c === null || c === undefined) continue;
    node.append(typeof c === 'number' ? String(c) : c);
  }
  return node;
}

export function byId<T extends HTMLElement>(id: string): T {
  const node = document.getElementById(id);
  if (node === null) throw new Error(`the page has no #${id}`);
  return node as T;
}

/** A table with a header row and one row per item; an empty list says so in words. */
export function fillTable<T>(
  table: HTMLTableElement,
  columns: readonly string[],
  items: readonly T[],
  row: (item: T) => readonly Child[],
  empty: string,
): void {
  const head = el('thead', {}, el('tr', {}, ...columns.map((c) => el('th', { scope: 'col' }, c))));
  const body = el('tbody');
  for (const item of items) body.append(el('tr', {}, ...row(item).map((c) => el('td', {}, c))));
  if (items.length === 0)
    body.append(el('tr', {}, el('td', { colspan: String(columns.length), class: 'empty' }, empty)));
  table.replaceChildren(head, body);
}

export function formatTime(ms: number | null): string {
  if (ms === null) return '–';
  return new Date(ms).toLocaleString(undefined, { dateStyle: 'short', timeStyle: 'medium' });
}

export function formatDuration(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000} h`;
  if (ms % 60_000 === 0) return `${ms / 60_000} min`;
  return `${ms / 1000} s`;
}

/** A 64-hex key or id, shortened for a table cell; the whole value stays in the title. */
export function short(hexText: string | null): Node | string {
  if (hexText === null) return '–';
  return el('code', { title: hexText }, `${hexText.slice(0, 8)}…${hexText.slice(-4)}`);
}

/** A PeerId (12D3KooW…): long, so it is shown in part, whole in its title. */
export function nodeName(peerId: string): Node {
  const shown = peerId.length > 20 ? `${peerId.slice(0, 12)}…${peerId.slice(-6)}` : peerId;
  return el('span', { class: 'node-id', title: peerId }, shown);
}
