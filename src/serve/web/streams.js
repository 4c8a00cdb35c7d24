// @ts-check
// The streams tab: live streams with their counters and last error; adding and removing them.
import { $, el, formatInt, showBanner, poller } from './dom.js';
import { api } from './api.js';

const polling = poller(() => void refreshStreams());
/** @type {Map<number, {id: number, url: string, name: string | null}>} */
const streamNames = new Map();

export async function refreshStreams() {
  polling.cancel();
  let data;
  try {
    data = await api('/v1/streams');
  } catch (error) {
    if (error.status !== 401) polling.again();
    return;
  }
  renderStreams(data.streams ?? []);
  // poll while the streams view is open (counters move), or while a stream is not live yet
  const visible = !$('tab-streams').hidden;
  if (visible || (data.streams ?? []).some((s) => s.state === 'connecting' || s.state === 'reconnecting')) polling.again();
}

export function streamLabel(id) {
  const s = streamNames.get(id);
  return s ? s.name || s.url : `stream ${id}`;
}

function renderStreams(streams) {
  for (const s of streams) streamNames.set(s.id, s);
  $('streams-count').textContent = streams.length ? String(streams.length) : '';
  $('streams-empty').hidden = streams.length > 0;
  $('stream-rows').replaceChildren(
    ...streams.flatMap((s) => {
      const c = s.counters ?? {};
      const row = el(
        'tr',
        { 'data-testid': 'stream-row', dataset: { stream: s.id, state: s.state } },
        el('td', {}, String(s.id)),
        el('td', { class: 'path', title: s.url }, s.name ? el('strong', {}, s.name) : null, s.name ? el('br') : null, el('span', { class: s.name ? 'muted small' : '' }, s.url)),
        el('td', {}, el('span', { class: `badge state-${s.state}` }, s.state)),
        el('td', {}, formatInt(c.framesDecoded)),
        el('td', {}, formatInt(c.processed)),
        el('td', {}, formatInt(c.dropped)),
        el('td', {}, formatInt(c.keyframes)),
        el('td', {}, formatInt(c.regions)),
        el('td', {}, formatInt(c.reconnects)),
        el('td', { class: 'actions' }, el('button', { type: 'button', class: 'danger', 'data-testid': 'stream-remove', onclick: () => removeStream(s) }, 'Remove')),
      );
      if (!c.lastError) return [row];
      row.classList.add('has-error');
      return [row, el('tr', { class: 'error-row' }, el('td', {}), el('td', { colspan: '9', class: 'error-text small', 'data-testid': 'stream-error' }, `Last error: ${c.lastError}`))];
    }),
  );
}

$('stream-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const body = { url: /** @type {HTMLInputElement} */ ($('stream-url')).value.trim() };
  const name = /** @type {HTMLInputElement} */ ($('stream-name')).value.trim();
  const interval = /** @type {HTMLInputElement} */ ($('stream-interval')).value.trim();
  if (name) body.name = name;
  if (interval) body.interval = Number(interval);
  try {
    await api('/v1/streams', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    /** @type {HTMLFormElement} */ (event.target).reset();
  } catch (error) {
    showBanner(`Cannot add the stream: ${error.message}`);
  }
  void refreshStreams();
});

async function removeStream(s) {
  if (!confirm(`Stop and remove stream ${s.id} (${s.name || s.url})?`)) return;
  try {
    await api(`/v1/streams/${s.id}`, { method: 'DELETE' });
  } catch (error) {
    showBanner(`Cannot remove stream ${s.id}: ${error.message}`);
  }
  void refreshStreams();
}
