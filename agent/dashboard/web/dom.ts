/**
 * The only way the page builds elements: attributes and text go through setAttribute and
 * textContent, so a string from the API (a sensor named `<img onerror=…>`) stays text.
 */
type Child = Node | string | number | null | undefined;

export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Readonly<Record<string, string>> = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  append(node, children);
  return node;
}

const SVG = 'http://www.w3.org/2000/svg';

export function svg<K extends keyof SVGElementTagNameMap>(
  tag: K,
  attrs: Readonly<Record<string, string | number>> = {},
  ...children: Child[]
): SVGElementTagNameMap[K] {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  append(node, children);
  return node;
}

function append(node: Element, children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined) continue;
    node.append(typeof c === 'number' ? String(c) : c);
  }
}

export function byId<T extends HTMLElement>(id: string): T {
  const node = document.getElementById(id);
  if (node === null) throw new Error(`the page has no #${id}`);
  return node as T;
}

export function formatTime(ms: number): string {
  return new Date(ms).toLocaleTimeString();
}

export function formatScore(n: number | null): string {
  if (n === null || !Number.isFinite(n)) return '–';
  return Math.abs(n) >= 100 ? n.toFixed(0) : n.toPrecision(3);
}
