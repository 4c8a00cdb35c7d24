// @ts-check
// The live tab: standing subscriptions over the WebSocket /v1/live and the feed of their matches.
import { $, el, formatTime, formatScore, showBanner, mediaImage } from './dom.js';
import { api, token } from './api.js';
import { query } from './query.js';
import { streamLabel } from './streams.js';

export const live = {
  /** @type {WebSocket | null} */
  socket: null,
  /** subscriptions of this page: id → { id, name, threshold, persist, image (base64), box } */
  subs: new Map(),
  /** requestId → what was asked, until the reply */
  pending: new Map(),
  nextRequest: 1,
  matches: 0,
};
const MAX_FEED = 200;

function setLiveState(text, kind) {
  const badge = $('live-state');
  badge.textContent = text;
  badge.className = `badge state-${kind}`;
}

export function connectLive() {
  if (live.socket) {
    live.socket.onclose = null;
    live.socket.close();
    live.socket = null;
  }
  if (!token) {
    setLiveState('no token', 'failed');
    return;
  }
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const socket = new WebSocket(`${scheme}//${location.host}/v1/live?token=${encodeURIComponent(token)}`);
  live.socket = socket;
  setLiveState('connecting…', 'connecting');
  socket.onopen = () => {
    setLiveState('connected', 'live');
    // take the page's subscriptions back: persisted ones are resumed (they kept collecting), others are made anew
    const previous = [...live.subs.values()];
    live.subs.clear();
    for (const sub of previous) {
      if (sub.persist) send({ type: 'resume', subscription: sub.id }, { ...sub, resume: true });
      else send(subscribeMessage(sub), sub);
    }
    renderSubscriptions();
  };
  socket.onmessage = (event) => {
    let message;
    try {
      message = JSON.parse(event.data);
    } catch {
      return;
    }
    onLiveMessage(message);
  };
  socket.onclose = (event) => {
    if (live.socket !== socket) return;
    live.socket = null;
    // a refused upgrade closes with 1006 before opening; the token is the usual reason
    setLiveState(event.code === 1006 && !event.wasClean ? 'disconnected (check the token)' : `disconnected${event.reason ? `: ${event.reason}` : ''}`, 'failed');
    // keep the list (Reconnect restores it) but show that nothing arrives
    renderSubscriptions();
  };
}

function send(message, context) {
  if (!live.socket || live.socket.readyState !== WebSocket.OPEN) {
    showBanner('The live connection is closed: press Reconnect.');
    return false;
  }
  const requestId = `r${live.nextRequest++}`;
  live.pending.set(requestId, context);
  live.socket.send(JSON.stringify({ ...message, requestId }));
  return true;
}

function subscribeMessage(sub) {
  return { type: 'subscribe', image: sub.image, ...(sub.box ? { box: sub.box } : {}), threshold: sub.threshold, persist: sub.persist, ...(sub.name ? { name: sub.name } : {}) };
}

async function blobToBase64(blob) {
  const bytes = new Uint8Array(await blob.arrayBuffer());
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

$('live-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  if (!query.blob) return;
  if (!live.socket || live.socket.readyState !== WebSocket.OPEN) connectLive();
  const threshold = Number(/** @type {HTMLInputElement} */ ($('live-threshold')).value);
  const sub = {
    image: await blobToBase64(query.blob),
    box: query.box ? [...query.box] : null,
    threshold: Number.isFinite(threshold) ? threshold : 0.7,
    persist: /** @type {HTMLInputElement} */ ($('live-persist')).checked,
    name: /** @type {HTMLInputElement} */ ($('live-name')).value.trim() || `${query.name}${query.box ? ` [${query.box.join(',')}]` : ''}`,
  };
  const go = () => send(subscribeMessage(sub), sub);
  if (live.socket && live.socket.readyState === WebSocket.CONNECTING) live.socket.addEventListener('open', go, { once: true });
  else go();
});

$('live-reconnect').addEventListener('click', () => connectLive());
$('live-clear').addEventListener('click', () => {
  $('live-feed').replaceChildren();
  live.matches = 0;
  $('live-count').textContent = '';
  $('live-empty').hidden = false;
});

function onLiveMessage(message) {
  const context = message.requestId ? live.pending.get(message.requestId) : undefined;
  if (message.requestId) live.pending.delete(message.requestId);
  switch (message.type) {
    case 'subscribed':
    case 'resumed': {
      const info = message.subscription;
      const { resume: _resume, info: _info, ...asked } = context ?? {};
      live.subs.set(info.id, { ...asked, id: info.id, threshold: info.threshold, persist: info.persist, name: info.name ?? context?.name ?? null, info });
      renderSubscriptions();
      break;
    }
    case 'unsubscribed':
      live.subs.delete(message.subscription);
      renderSubscriptions();
      break;
    case 'match':
    case 'update':
      addFeedItem(renderMatch(message));
      break;
    case 'ended':
      addFeedItem(
        el(
          'li',
          { class: 'notice ended', 'data-testid': 'live-ended' },
          `Appearance ${message.appearance} on ${streamLabel(message.stream)} ended: ${formatTime(message.start, true)}–${formatTime(message.end, true)}, best score ${formatScore(message.bestScore)}.`,
        ),
        false,
      );
      break;
    case 'dropped':
      addFeedItem(el('li', { class: 'notice dropped', 'data-testid': 'live-dropped' }, `${message.count} message${message.count === 1 ? '' : 's'} dropped: this page fell behind the service.`), false);
      break;
    case 'error': {
      const text = message.error?.message ?? 'unknown error';
      if (context?.resume) {
        // a resume that failed (the service restarted without it, or it was removed): subscribe anew
        if (message.error?.code === 'not-found' && context.image) send(subscribeMessage({ ...context, resume: false }), { ...context, resume: false });
        else showBanner(`Cannot resume subscription ${context.id}: ${text}`);
      } else showBanner(`Live: ${text}`);
      break;
    }
    default:
      break;
  }
}

function renderMatch(m) {
  const when = m.frameTime ? new Date(m.frameTime) : null;
  const sub = live.subs.get(m.subscription);
  return el(
    'li',
    { class: 'match', 'data-testid': 'live-match', dataset: { stream: m.stream, track: m.track, score: m.score } },
    mediaImage(m.thumbnail, `Match on ${streamLabel(m.stream)} at ${formatTime(m.t, true)}`, 'live-thumbnail'),
    el(
      'div',
      { class: 'match-body' },
      el('div', { class: 'card-line' }, el('strong', { class: 'score' }, formatScore(m.score)), m.type === 'update' ? el('span', { class: 'badge' }, 'update') : null),
      el('div', {}, streamLabel(m.stream)),
      el('div', { class: 'muted small' }, `${when ? when.toLocaleTimeString() : ''} · stream time ${formatTime(m.t, true)} · track ${m.track}`),
      sub?.name ? el('div', { class: 'muted small' }, sub.name) : null,
    ),
  );
}

function addFeedItem(item, isMatch = true) {
  const feed = $('live-feed');
  feed.prepend(item);
  while (feed.children.length > MAX_FEED) feed.lastElementChild?.remove();
  $('live-empty').hidden = true;
  if (isMatch) {
    live.matches++;
    $('live-count').textContent = String(live.matches);
  }
}

function renderSubscriptions() {
  const connected = live.socket?.readyState === WebSocket.OPEN;
  $('subscriptions').replaceChildren(
    ...[...live.subs.values()].map((sub) =>
      el(
        'li',
        { 'data-testid': 'subscription', dataset: { subscription: sub.id } },
        el('span', { class: `badge state-${connected ? 'live' : 'stopped'}` }, connected ? 'watching' : 'paused'),
        el('span', { class: 'grow' }, sub.name || sub.id.slice(0, 8), el('span', { class: 'muted small' }, ` · threshold ${sub.threshold}${sub.persist ? ' · kept while away' : ''}`)),
        el(
          'button',
          {
            type: 'button',
            onclick: () => {
              if (connected) send({ type: 'unsubscribe', subscription: sub.id }, sub);
              else {
                live.subs.delete(sub.id);
                if (sub.persist) void api(`/v1/subscriptions/${sub.id}`, { method: 'DELETE' }).catch(() => undefined);
                renderSubscriptions();
              }
            },
          },
          'Unsubscribe',
        ),
      ),
    ),
  );
}
