// @ts-check
// Search by example and its results: hits grouped by video, a timeline per video, cards with ✓ / ✗ feedback.
import { $, el, formatTime, formatScore, baseName, mediaImage, hitName } from './dom.js';
import { api } from './api.js';
import { query, allViews, updateQueryControls } from './query.js';
import { playHit } from './player.js';
import { selectTab } from './tabs.js';

$('search-form').addEventListener('submit', (event) => {
  event.preventDefault();
  void search();
});

/** Whether the search is a shot search: the whole image as a scene, no box, no feedback. */
function shotMode() {
  return /** @type {HTMLInputElement} */ ($('opt-shot')).checked;
}

$('opt-shot').addEventListener('change', () => {
  $('search-button').textContent = shotMode() ? 'Find similar shots' : 'Search videos';
  updateQueryControls();
});

async function search() {
  if (!query.blob || query.searching) return;
  const shots = shotMode();
  const form = new FormData();
  const views = allViews();
  for (const view of views) form.append('image', view.blob, view.name);
  // boxes: none, or one per image (a view without one is its whole image)
  if (!shots && views.some((v) => v.box)) for (const view of views) form.append('box', (view.box ?? [0, 0, view.width, view.height]).join(','));
  const top = /** @type {HTMLInputElement} */ ($('opt-top')).value.trim();
  const minScore = /** @type {HTMLInputElement} */ ($('opt-min-score')).value.trim();
  if (top) form.append('top', top);
  if (minScore) form.append('minScore', minScore);
  const marked = (verdict) => [...query.feedback].filter(([, v]) => v === verdict).map(([region]) => region);
  if (!shots && marked('right').length) form.append('right', marked('right').join(','));
  if (!shots && marked('wrong').length) form.append('wrong', marked('wrong').join(','));
  query.searching = true;
  updateQueryControls();
  selectTab('results');
  const status = $('search-status');
  status.textContent = 'Searching…';
  status.className = 'muted';
  const started = performance.now();
  try {
    const result = await api(shots ? '/v1/shots/search' : '/v1/search', { method: 'POST', body: form });
    renderResults(result, performance.now() - started, shots);
    // on a narrow screen the results are below the query: bring them into view
    if (matchMedia('(max-width: 860px)').matches) $('tab-results').scrollIntoView({ behavior: 'smooth', block: 'start' });
  } catch (error) {
    status.textContent =
      error.code === 'no-object' ? (shots ? `Nothing to match in the query: ${error.message}.` : `No object found in the query: ${error.message}. Draw a tighter box around the object.`) : `Search failed: ${error.message}`;
    status.className = 'error-text';
  } finally {
    query.searching = false;
    updateQueryControls();
  }
}

/** Results grouped by video; `shots`: the hits are shots (no track), from a shot search. */
function renderResults(result, elapsedMs, shots) {
  const container = $('results');
  container.replaceChildren();
  const hits = result.hits ?? [];
  $('results-count').textContent = hits.length ? String(hits.length) : '';
  const status = $('search-status');
  status.className = 'muted';
  const videos = new Map();
  for (const hit of hits) {
    let group = videos.get(hit.video);
    if (!group) videos.set(hit.video, (group = { video: hit.video, path: hit.path, duration: hit.duration, hits: [] }));
    group.hits.push(hit);
  }
  const unit = shots ? 'shot' : 'track';
  status.textContent = hits.length
    ? `${hits.length} ${unit}${hits.length === 1 ? '' : 's'} in ${videos.size} video${videos.size === 1 ? '' : 's'} (${(elapsedMs / 1000).toFixed(1)} s).`
    : shots ? 'No similar shot. Try a lower min score, or index more videos.' : 'Nothing found. Try another box, a lower min score, or index more videos.';
  let rank = 0;
  for (const group of videos.values()) container.append(renderVideoGroup(group, () => ++rank, unit));
}

function renderVideoGroup(group, nextRank, unit) {
  const duration = typeof group.duration === 'number' && group.duration > 0 ? group.duration : Math.max(...group.hits.map((h) => h.end), 1);
  const best = Math.max(...group.hits.map((h) => h.score));
  const timeline = el('div', { class: 'timeline', 'data-testid': 'timeline', dataset: { video: group.video, duration }, role: 'group', 'aria-label': `Where the matches lie in ${baseName(group.path)}` });
  const cards = el('div', { class: 'cards' });
  // tracks of a video, best first; hits without a track (single keyframes) last
  const hits = [...group.hits].sort((a, b) => Number(a.track === null) - Number(b.track === null) || b.score - a.score);
  for (const hit of hits) {
    const rank = nextRank();
    const left = (Math.min(hit.start, duration) / duration) * 100;
    const width = Math.max(((Math.min(hit.end, duration) - Math.min(hit.start, duration)) / duration) * 100, 0.8);
    const label = `${hitName(hit)}: ${formatTime(hit.start, true)}–${formatTime(hit.end, true)}, score ${formatScore(hit.score)}`;
    const mark = el('button', {
      type: 'button',
      class: 'mark',
      'data-testid': 'timeline-mark',
      dataset: { track: hit.track ?? '', start: hit.start, end: hit.end },
      style: { left: `${left}%`, width: `${width}%`, opacity: String(0.45 + 0.55 * Math.max(0, hit.score / best)) },
      title: label,
      'aria-label': `Play ${label}`,
      onclick: () => playHit(hit),
    });
    timeline.append(mark);
    if (hit.best && Number.isFinite(hit.best.t)) {
      timeline.append(el('span', { class: 'best-tick', style: { left: `${(Math.min(hit.best.t, duration) / duration) * 100}%` }, 'aria-hidden': 'true' }));
    }
    cards.append(renderCard(hit, rank));
  }
  const axis = el('div', { class: 'axis', 'aria-hidden': 'true' }, el('span', { text: '00:00' }), el('span', { text: formatTime(duration / 2) }), el('span', { text: formatTime(duration) }));
  return el(
    'section',
    { class: 'video-group', 'data-testid': 'result-video', dataset: { video: group.video } },
    el(
      'header',
      { class: 'video-head' },
      el('h3', { title: group.path }, baseName(group.path)),
      el('span', { class: 'muted small' }, `video ${group.video} · ${formatTime(duration)} · ${group.hits.length} ${unit}${group.hits.length === 1 ? '' : 's'} · best ${formatScore(best)}`),
    ),
    timeline,
    axis,
    cards,
  );
}

function renderCard(hit, rank) {
  const playable = Boolean(hit.clip);
  const card = el(
    'article',
    {
      class: `card${playable ? ' playable' : ''}`,
      'data-testid': 'result-card',
      dataset: { rank, video: hit.video, track: hit.track ?? '', start: hit.start, end: hit.end, score: hit.score, best: hit.best?.t ?? '', region: hit.best?.region ?? '' },
      tabindex: playable ? '0' : undefined,
      role: playable ? 'button' : undefined,
      'aria-label': playable ? `Play ${hitName(hit)} of ${baseName(hit.path)}` : undefined,
      title: playable ? 'Play the clip' : 'No clip: this moment of the live stream was not recorded',
      onclick: () => playHit(hit),
      onkeydown: (event) => {
        if (event.key === 'Enter' || event.key === ' ') {
          event.preventDefault();
          playHit(hit);
        }
      },
    },
    el('div', { class: 'thumb-wrap' }, mediaImage(hit.thumbnail, `Best frame of ${hitName(hit)} at ${formatTime(hit.best?.t, true)}`, 'result-thumbnail'), playable ? el('span', { class: 'play-icon', 'aria-hidden': 'true' }, '▶') : null),
    el(
      'div',
      { class: 'card-body' },
      el('div', { class: 'card-line' }, el('strong', { class: 'score', 'data-testid': 'result-score' }, formatScore(hit.score)), el('span', { class: 'muted small' }, `#${rank} · ${hitName(hit)}`)),
      el('div', { class: 'scorebar', 'aria-hidden': 'true' }, el('span', { style: { width: `${Math.max(0, Math.min(1, hit.score)) * 100}%` } })),
      el('div', { class: 'small', 'data-testid': 'result-span' }, `${formatTime(hit.start, true)} – ${formatTime(hit.end, true)}`),
      el('div', { class: 'muted small' }, `best at ${formatTime(hit.best?.t, true)}${typeof hit.similarity === 'number' ? ` · similarity ${formatScore(hit.similarity)}` : ''}`),
      hit.best?.region ? feedbackButtons(hit.best.region) : null,
    ),
  );
  return card;
}

/** ✓ / ✗ on a card: this hit is (not) the object; the next search moves the query towards (away from) it. */
function feedbackButtons(region) {
  const buttons = [];
  const refresh = () => {
    for (const button of buttons) button.setAttribute('aria-pressed', String(query.feedback.get(region) === button.dataset.verdict));
    const count = query.feedback.size;
    $('feedback-hint').textContent = count ? `${count} hit${count === 1 ? '' : 's'} marked: search again to use them.` : '';
  };
  for (const [verdict, symbol, label] of [['right', '✓', 'This is the object'], ['wrong', '✗', 'This is not the object']]) {
    buttons.push(
      el('button', {
        type: 'button',
        class: `verdict ${verdict}`,
        'data-testid': `mark-${verdict}`,
        dataset: { verdict },
        title: `${label}: the next search moves towards ${verdict === 'right' ? 'it' : 'other hits'}`,
        'aria-label': label,
        'aria-pressed': String(query.feedback.get(region) === verdict),
        onclick: (event) => {
          event.stopPropagation(); // the card itself plays the clip
          if (query.feedback.get(region) === verdict) query.feedback.delete(region);
          else query.feedback.set(region, verdict);
          refresh();
        },
        onkeydown: (event) => event.stopPropagation(),
      }, symbol),
    );
  }
  return el('div', { class: 'feedback' }, ...buttons);
}
