import type {
  EpochListItem,
  EquivocationItem,
  NodeListItem,
  ServiceInfo,
  SpotCheckItem,
} from '../../service/list-types.js';
import type { Snapshot } from './api.js';
import { byId, el, fillTable, formatDuration, formatTime, nodeName, short } from './dom.js';

/**
 * Draws one snapshot. Every state is a word in the cell (open, passed, failed, missed;
 * credited, pending, voided), never only a colour: the page must read the same in grey, on
 * a phone in the sun, or to a screen reader. Colour is added by CSS from data-state.
 */
export function render(s: Snapshot): void {
  renderService(s.service);
  renderEpochs(s.epochs.epochs);
  renderNodes(s.nodes.nodes, s.nodes.next !== null);
  renderEquivocations(s.equivocations.equivocations);
  renderSpotChecks(s.spotchecks.spotchecks);
}

function figure(label: string, value: Node | string): HTMLElement {
  return el('div', { class: 'figure' }, el('dt', {}, label), el('dd', {}, value));
}

function renderService(s: ServiceInfo): void {
  byId('service-figures').replaceChildren(
    figure('PeerId', el('code', { class: 'wrap' }, s.peerId)),
    figure('public key', el('code', { class: 'wrap' }, s.publicKey)),
    figure('epoch length', s.epochMs > 0 ? formatDuration(s.epochMs) : 'closed by another replica'),
    figure('spot checks', `${(s.spotCheckPpm / 10_000).toString()} % of receipts`),
    figure('reveal window', formatDuration(s.revealWindowMs)),
    figure('registration', s.requireRegistration ? 'required' : 'not required'),
    figure('largest batch', `${s.maxReceipts} receipts, ${Math.round(s.maxBodyBytes / 1024)} KiB`),
  );
}

function renderEpochs(epochs: readonly EpochListItem[]): void {
  fillTable(
    byId<HTMLTableElement>('epoch-table'),
    ['epoch', 'state', 'opened', 'closed', 'credit', 'nodes credited', 'total credit', 'reward root'],
    epochs,
    (e) => [
      e.epoch,
      el(
        'span',
        { class: 'state', 'data-state': e.closedAtMs === null ? 'open' : 'closed' },
        e.closedAtMs === null ? 'open' : 'closed',
      ),
      formatTime(e.openedAtMs),
      formatTime(e.closedAtMs),
      e.closedAtMs === null ? '–' : e.credit,
      e.closedAtMs === null ? '–' : e.nodesCredited,
      e.closedAtMs === null ? '–' : e.totalCredit,
      short(e.rewardRoot),
    ],
    'no epoch yet',
  );
}

function renderNodes(nodes: readonly NodeListItem[], more: boolean): void {
  const table = byId<HTMLTableElement>('node-table');
  fillTable(
    table,
    ['node', 'registered', 'credited', 'pending', 'voided', 'receipts', 'open checks', 'last epoch'],
    nodes,
    (n) => [
      nodeName(n.node),
      n.registered ? 'yes' : 'no',
      n.credited,
      n.pending,
      n.voided,
      receiptCounts(n.receipts),
      n.openChallenges,
      n.lastEpoch === null ? '–' : `${n.lastEpoch.epoch} (${n.lastEpoch.cumulative})`,
    ],
    'no node has sent receipts yet',
  );
  if (more) table.append(el('caption', {}, 'more nodes than shown: see GET /v1/nodes'));
}

/** valid 12 · duplicate 2 …: every status the service answered, valid first. */
function receiptCounts(counts: Readonly<Record<string, number>>): string {
  const entries = Object.entries(counts).sort(([a], [b]) =>
    a === 'valid' ? -1 : b === 'valid' ? 1 : a < b ? -1 : 1,
  );
  return entries.length === 0 ? '–' : entries.map(([k, v]) => `${k} ${v}`).join(' · ');
}

function renderEquivocations(items: readonly EquivocationItem[]): void {
  const list = byId('equivocation-list');
  list.replaceChildren(
    ...items.map((e) =>
      el(
        'li',
        { class: 'flag' },
        el(
          'p',
          {},
          el('strong', {}, 'equivocation'),
          ' by ',
          nodeName(e.node),
          ' at ',
          formatTime(e.detectedAtMs),
        ),
        el(
          'p',
          {},
          'pipeline ',
          el('span', { class: 'pipeline' }, e.pipeline),
          `, sequence ${e.sequence}: kept `,
          short(e.keptReceipt),
          ', other ',
          short(e.receipt),
        ),
        el(
          'p',
          { class: 'differs' },
          e.differs.length === 0 ? 'differs in: unknown' : `differs in: ${e.differs.join(', ')}`,
        ),
      ),
    ),
  );
  if (items.length === 0) list.append(el('li', { class: 'empty' }, 'none flagged'));
}

function renderSpotChecks(items: readonly SpotCheckItem[]): void {
  fillTable(
    byId<HTMLTableElement>('spotcheck-table'),
    ['state', 'node', 'pipeline', 'receipt', 'epoch', 'opened', 'deadline', 'resolved', 'reason'],
    items,
    (c) => [
      el('span', { class: 'state', 'data-state': c.state }, c.state),
      nodeName(c.node),
      c.pipeline === null ? '–' : el('span', { class: 'pipeline' }, c.pipeline),
      short(c.receipt),
      c.epoch,
      formatTime(c.openedAtMs),
      formatTime(c.deadlineMs),
      formatTime(c.resolvedAtMs),
      el('span', { class: 'reason' }, c.reason ?? '–'),
    ],
    'no receipt has been spot-checked yet',
  );
}
