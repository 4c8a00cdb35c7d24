// The web UI of `dasr serve`: plain ES module, no framework, no build step, nothing loaded from elsewhere.
// Every API call carries the token in a header; media (thumbnails, clips) are fetched the same way and shown
// through blob URLs. The WebSocket takes the token in its query string (browsers cannot set its headers).

const TOKEN_KEY = 'dasr.token';
const POLL_MS = 2000;
const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));

// ---------------------------------------------------------------- small helpers

/** Creates an element: el('div', { class: 'x', dataset: { a: 1 }, onclick }, child, 'text', …). */
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'dataset') Object.assign(node.dataset, value);
    else if (key === 'style' && typeof value === 'object') Object.assign(node.style, value);
    else if (key.startsWith('on') && typeof value === 'function') node.addEventListener(key.slice(2), value);
    else if (key === 'class') node.className = value;
    else if (key === 'text') node.textContent = value;
    else node.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children.flat()) if (child !== null && child !== undefined && child !== false) node.append(child instanceof Node ? child : String(child));
  return node;
}

/** Seconds → mm:ss (h:mm:ss past an hour); `tenths` adds one decimal. */
function formatTime(seconds, tenths = false) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return '–';
  const total = Math.max(0, seconds);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const sec = tenths ? (Math.floor(s * 10) / 10).toFixed(1).padStart(4, '0') : String(Math.floor(s)).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${String(m).padStart(2, '0')}:${sec}`;
}

const formatScore = (score) => (typeof score === 'number' ? score.toFixed(3) : '–');
const fileName = (path) => String(path ?? '').split(/[\\/]/).pop() || String(path ?? '');

// Uploads are stored under generated names: the names of files uploaded from this browser are remembered here.
const NAMES_KEY = 'dasr.uploadNames';
const uploadNames = (() => {
  try {
    return new Map(Object.entries(JSON.parse(localStorage.getItem(NAMES_KEY) ?? '{}')));
  } catch {
    return new Map();
  }
})();

function rememberUploadName(path, name) {
  uploadNames.set(path, name);
  while (uploadNames.size > 500) uploadNames.delete(uploadNames.keys().next().value);
  try {
    localStorage.setItem(NAMES_KEY, JSON.stringify(Object.fromEntries(uploadNames)));
  } catch {
    /* storage unavailable or full: names last for this page */
  }
}

/** What to call a video: its uploaded file's name when known, else its file name. */
const baseName = (path) => uploadNames.get(path) ?? fileName(path);
const formatInt = (n) => (typeof n === 'number' ? n.toLocaleString() : '–');

function formatBytes(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 ** 2) return `${(bytes / 1024).toFixed(0)} KiB`;
  if (bytes < 1024 ** 3) return `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
  return `${(bytes / 1024 ** 3).toFixed(2)} GiB`;
}

// ---------------------------------------------------------------- token and API

let token = '';

function readStoredToken() {
  try {
    return localStorage.getItem(TOKEN_KEY) ?? '';
  } catch {
    return '';
  }
}

function setToken(value) {
  token = value.trim();
  try {
    if (token) localStorage.setItem(TOKEN_KEY, token);
    else localStorage.removeItem(TOKEN_KEY);
  } catch {
    /* storage may be unavailable (private mode): the token then lives for this page only */
  }
  /** @type {HTMLInputElement} */ ($('token-input')).value = token;
}

/** `#token=…` in the address: taken, remembered, and removed from the address bar (and the history entry). */
function initToken() {
  const match = /(?:^#|[#&])token=([^&]*)/.exec(location.hash);
  if (match) {
    setToken(decodeURIComponent(match[1]));
    const rest = location.hash.replace(/(^#|&)token=[^&]*/, '$1').replace(/^#&/, '#').replace(/&$/, '');
    history.replaceState(null, '', location.pathname + location.search + (rest === '#' ? '' : rest));
  } else {
    setToken(readStoredToken());
  }
}

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

function showBanner(message, kind = 'error') {
  const banner = $('banner');
  banner.textContent = message;
  banner.className = `banner ${kind}`;
  banner.hidden = !message;
}

let unauthorized = false;

function noteUnauthorized() {
  if (unauthorized) return;
  unauthorized = true;
  showBanner(token ? 'The API token was refused (401 Unauthorized). Enter a valid token above.' : 'This service needs an API token: enter it above (or open the page as …/#token=<token>).');
  $('token-input').focus();
}

async function errorFrom(response) {
  let code = `http-${response.status}`;
  let message = `${response.status} ${response.statusText}`;
  try {
    const body = await response.json();
    if (body && body.error) {
      code = body.error.code ?? code;
      message = body.error.message ?? message;
    }
  } catch {
    /* not JSON */
  }
  if (response.status === 401) noteUnauthorized();
  return new ApiError(response.status, code, message);
}

/** fetch with the token; resolves to the parsed JSON (null for 204), rejects with ApiError. */
async function api(path, init = {}) {
  const headers = new Headers(init.headers);
  if (token) headers.set('authorization', `Bearer ${token}`);
  let response;
  try {
    response = await fetch(path, { ...init, headers });
  } catch (error) {
    throw new ApiError(0, 'network', `cannot reach the service: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (!response.ok) throw await errorFrom(response);
  if (unauthorized) {
    unauthorized = false;
    showBanner('');
  }
  if (response.status === 204) return null;
  const type = response.headers.get('content-type') ?? '';
  return type.includes('application/json') ? response.json() : response.blob();
}

/** A media URL of the API (needs the token) → a blob: URL, cached until `releaseMedia(scope)`. */
const mediaCache = new Map(); // path → { promise, scope }

function mediaUrl(path, scope = 'results') {
  let entry = mediaCache.get(path);
  if (!entry) {
    entry = { scope, promise: api(path).then((blob) => URL.createObjectURL(/** @type {Blob} */ (blob))) };
    entry.promise.catch(() => mediaCache.delete(path));
    mediaCache.set(path, entry);
  }
  return entry.promise;
}

function releaseMedia(scope) {
  for (const [path, entry] of mediaCache) {
    if (entry.scope !== scope) continue;
    mediaCache.delete(path);
    entry.promise.then((url) => URL.revokeObjectURL(url)).catch(() => undefined);
  }
}

/** An <img> whose picture comes from an API path (loaded through fetch with the token). */
function mediaImage(path, alt, testid, scope) {
  // the description is set once the picture is there (Chromium draws a broken-image icon for alt text without src)
  const img = el('img', { alt: '', class: 'thumb loading', 'data-testid': testid, decoding: 'async' });
  if (path) {
    mediaUrl(path, scope)
      .then((url) => {
        img.src = url;
        img.alt = alt;
        img.classList.remove('loading');
      })
      .catch((error) => {
        img.classList.remove('loading');
        img.classList.add('broken');
        img.alt = `${alt} (not available)`;
        img.title = `no picture: ${error.message}`;
      });
  }
  return img;
}

// ---------------------------------------------------------------- tabs

function selectTab(name) {
  for (const button of document.querySelectorAll('[role="tab"]')) {
    const selected = button.getAttribute('data-tab') === name;
    button.setAttribute('aria-selected', String(selected));
    $(`tab-${button.getAttribute('data-tab')}`).hidden = !selected;
  }
  if (name === 'videos') void refreshVideos();
  if (name === 'streams') void refreshStreams();
  if (name === 'live') {
    void refreshStreams();
    if (!live.socket) connectLive();
  }
}

// ---------------------------------------------------------------- query image and box

const query = {
  /** @type {Blob | null} the image as chosen (sent as is: the box is in its pixels) */
  blob: null,
  name: 'query.png',
  /** @type {ImageBitmap | HTMLImageElement | null} */
  picture: null,
  width: 0,
  height: 0,
  /** [x, y, w, h] in image pixels, or null for the whole image */
  box: null,
  /** the box being dragged, in image pixels */
  drag: null,
};

const canvas = /** @type {HTMLCanvasElement} */ ($('query-canvas'));
const MAX_CANVAS_SIDE = 1600;

async function decodePicture(blob) {
  if ('createImageBitmap' in window) {
    try {
      return await createImageBitmap(blob, { imageOrientation: 'from-image' });
    } catch {
      /* fall back to <img> */
    }
  }
  const url = URL.createObjectURL(blob);
  try {
    const img = new Image();
    img.src = url;
    await img.decode();
    return img;
  } finally {
    URL.revokeObjectURL(url);
  }
}

async function setQueryImage(blob, name) {
  if (!blob.type.startsWith('image/')) {
    showBanner(`${name || 'that file'} is not an image`);
    return;
  }
  let picture;
  try {
    picture = await decodePicture(blob);
  } catch {
    showBanner(`cannot read ${name || 'the image'}: it is not an image this browser can decode`);
    return;
  }
  if (!unauthorized) showBanner('');
  query.blob = blob;
  feedback.clear(); // marks belong to the hits of another query
  query.name = name || `pasted.${(blob.type.split('/')[1] || 'png').replace('jpeg', 'jpg')}`;
  query.picture = picture;
  query.width = picture.width;
  query.height = picture.height;
  query.box = null;
  query.drag = null;
  const scale = Math.min(1, MAX_CANVAS_SIDE / Math.max(picture.width, picture.height));
  canvas.width = Math.max(1, Math.round(picture.width * scale));
  canvas.height = Math.max(1, Math.round(picture.height * scale));
  // fill the panel's width, but never taller than 60% of the window
  canvas.style.maxWidth = `calc(60vh * ${picture.width / picture.height})`;
  canvas.hidden = false;
  $('canvas-hint').hidden = true;
  drawQuery();
  updateQueryControls();
}

function drawQuery() {
  const ctx = canvas.getContext('2d');
  if (!ctx || !query.picture) return;
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  ctx.drawImage(query.picture, 0, 0, canvas.width, canvas.height);
  const box = query.drag ?? query.box;
  if (!box) return;
  const s = canvas.width / query.width;
  const [x, y, w, h] = box.map((v) => v * s);
  ctx.save();
  ctx.fillStyle = 'rgba(0, 0, 0, 0.45)';
  ctx.beginPath();
  ctx.rect(0, 0, canvas.width, canvas.height);
  ctx.rect(x, y, w, h);
  ctx.fill('evenodd');
  const line = Math.max(2, canvas.width / 300);
  ctx.lineWidth = line;
  ctx.strokeStyle = '#ffd400';
  ctx.setLineDash(query.drag ? [line * 3, line * 2] : []);
  ctx.strokeRect(x, y, w, h);
  ctx.restore();
}

function updateQueryControls() {
  const info = $('box-info');
  if (!query.blob) info.textContent = 'No image yet.';
  else if (query.box) {
    const [x, y, w, h] = query.box;
    info.textContent = `Box x ${x}, y ${y}, ${w} × ${h} px of ${query.width} × ${query.height}.`;
  } else info.textContent = `${query.name}, ${query.width} × ${query.height}. No box: the whole image is the object, as a cut-out crop — drag to draw one around it in a larger picture.`;
  info.dataset.box = query.box ? query.box.join(',') : '';
  /** @type {HTMLButtonElement} */ ($('clear-box')).disabled = !query.box;
  /** @type {HTMLButtonElement} */ ($('search-button')).disabled = !query.blob || searching;
  /** @type {HTMLButtonElement} */ ($('live-subscribe')).disabled = !query.blob;
}

/** A pointer position → image pixels (the canvas is displayed scaled: use its on-screen rectangle). */
function imagePoint(event) {
  const rect = canvas.getBoundingClientRect();
  const x = ((event.clientX - rect.left) / rect.width) * query.width;
  const y = ((event.clientY - rect.top) / rect.height) * query.height;
  return [Math.min(query.width, Math.max(0, x)), Math.min(query.height, Math.max(0, y))];
}

let dragStart = null;

function boxFrom(a, b) {
  const x1 = Math.round(Math.min(a[0], b[0]));
  const y1 = Math.round(Math.min(a[1], b[1]));
  const x2 = Math.round(Math.max(a[0], b[0]));
  const y2 = Math.round(Math.max(a[1], b[1]));
  return [x1, y1, x2 - x1, y2 - y1];
}

canvas.addEventListener('pointerdown', (event) => {
  if (!query.picture || event.button !== 0) return;
  event.preventDefault();
  canvas.setPointerCapture(event.pointerId);
  dragStart = imagePoint(event);
  query.drag = [...dragStart.map(Math.round), 0, 0];
  drawQuery();
});

canvas.addEventListener('pointermove', (event) => {
  if (!dragStart) return;
  query.drag = boxFrom(dragStart, imagePoint(event));
  drawQuery();
});

function endDrag(event, cancelled) {
  if (!dragStart) return;
  const box = boxFrom(dragStart, imagePoint(event));
  dragStart = null;
  query.drag = null;
  // a click (or a sliver) keeps the previous box; the server needs a few pixels to describe a region anyway
  const minSide = Math.max(4, Math.min(query.width, query.height) / 50);
  if (!cancelled && box[2] >= minSide && box[3] >= minSide) query.box = box;
  drawQuery();
  updateQueryControls();
}

canvas.addEventListener('pointerup', (event) => endDrag(event, false));
canvas.addEventListener('pointercancel', (event) => endDrag(event, true));

$('clear-box').addEventListener('click', () => {
  query.box = null;
  drawQuery();
  updateQueryControls();
});

$('query-file').addEventListener('change', (event) => {
  const input = /** @type {HTMLInputElement} */ (event.target);
  const file = input.files?.[0];
  if (file) void setQueryImage(file, file.name);
});

function imageFromTransfer(data) {
  if (!data) return null;
  for (const item of data.items ?? []) if (item.kind === 'file' && item.type.startsWith('image/')) return item.getAsFile();
  for (const file of data.files ?? []) if (file.type.startsWith('image/')) return file;
  return null;
}

document.addEventListener('paste', (event) => {
  const target = /** @type {HTMLElement} */ (event.target);
  const file = imageFromTransfer(event.clipboardData);
  if (!file) return;
  if (target instanceof HTMLInputElement && target.type !== 'file' && target.type !== 'checkbox') return;
  event.preventDefault();
  void setQueryImage(file, file.name && file.name !== 'image.png' ? file.name : '');
});

$('paste-button').addEventListener('click', async () => {
  if (!navigator.clipboard?.read) {
    showBanner('This browser cannot read the clipboard from a button: press Ctrl+V (⌘V) on the page instead.', 'info');
    return;
  }
  try {
    for (const item of await navigator.clipboard.read()) {
      const type = item.types.find((t) => t.startsWith('image/'));
      if (type) {
        await setQueryImage(await item.getType(type), '');
        return;
      }
    }
    showBanner('The clipboard holds no image. Copy one, then paste again.', 'info');
  } catch (error) {
    showBanner(`Cannot read the clipboard (${error instanceof Error ? error.message : String(error)}): press Ctrl+V (⌘V) on the page instead.`, 'info');
  }
});

const dropZone = $('drop-zone');
dropZone.addEventListener('dragover', (event) => {
  event.preventDefault();
  dropZone.classList.add('dragging');
});
dropZone.addEventListener('dragleave', () => dropZone.classList.remove('dragging'));
dropZone.addEventListener('drop', (event) => {
  event.preventDefault();
  dropZone.classList.remove('dragging');
  const file = imageFromTransfer(event.dataTransfer);
  if (file) void setQueryImage(file, file.name);
});

// ---------------------------------------------------------------- search and results

let searching = false;
/** Hits marked right or wrong since the query was chosen, by region id: sent with the next search (relevance feedback). */
const feedback = new Map();

$('search-form').addEventListener('submit', (event) => {
  event.preventDefault();
  void search();
});

async function search() {
  if (!query.blob || searching) return;
  const form = new FormData();
  form.append('image', query.blob, query.name);
  if (query.box) form.append('box', query.box.join(','));
  const top = /** @type {HTMLInputElement} */ ($('opt-top')).value.trim();
  const minScore = /** @type {HTMLInputElement} */ ($('opt-min-score')).value.trim();
  if (top) form.append('top', top);
  if (minScore) form.append('minScore', minScore);
  const marked = (verdict) => [...feedback].filter(([, v]) => v === verdict).map(([region]) => region);
  if (marked('right').length) form.append('right', marked('right').join(','));
  if (marked('wrong').length) form.append('wrong', marked('wrong').join(','));
  searching = true;
  updateQueryControls();
  selectTab('results');
  const status = $('search-status');
  status.textContent = 'Searching…';
  status.className = 'muted';
  const started = performance.now();
  try {
    const result = await api('/v1/search', { method: 'POST', body: form });
    renderResults(result, performance.now() - started);
    // on a narrow screen the results are below the query: bring them into view
    if (matchMedia('(max-width: 860px)').matches) $('tab-results').scrollIntoView({ behavior: 'smooth', block: 'start' });
  } catch (error) {
    status.textContent = error.code === 'no-object' ? `No object found in the query: ${error.message}. Draw a tighter box around the object.` : `Search failed: ${error.message}`;
    status.className = 'error-text';
  } finally {
    searching = false;
    updateQueryControls();
  }
}

function renderResults(result, elapsedMs) {
  releaseMedia('results');
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
  status.textContent = hits.length
    ? `${hits.length} track${hits.length === 1 ? '' : 's'} in ${videos.size} video${videos.size === 1 ? '' : 's'} (${(elapsedMs / 1000).toFixed(1)} s).`
    : 'Nothing found. Try another box, a lower min score, or index more videos.';
  let rank = 0;
  for (const group of videos.values()) container.append(renderVideoGroup(group, () => ++rank));
}

function renderVideoGroup(group, nextRank) {
  const duration = typeof group.duration === 'number' && group.duration > 0 ? group.duration : Math.max(...group.hits.map((h) => h.end), 1);
  const best = Math.max(...group.hits.map((h) => h.score));
  const timeline = el('div', { class: 'timeline', 'data-testid': 'timeline', dataset: { video: group.video, duration }, role: 'group', 'aria-label': `Where the matches lie in ${baseName(group.path)}` });
  const cards = el('div', { class: 'cards' });
  // tracks of a video, best first; hits without a track (single keyframes) last
  const hits = [...group.hits].sort((a, b) => (a.track === null) - (b.track === null) || b.score - a.score);
  for (const hit of hits) {
    const rank = nextRank();
    const left = (Math.min(hit.start, duration) / duration) * 100;
    const width = Math.max(((Math.min(hit.end, duration) - Math.min(hit.start, duration)) / duration) * 100, 0.8);
    const label = `track ${hit.track ?? '–'}: ${formatTime(hit.start, true)}–${formatTime(hit.end, true)}, score ${formatScore(hit.score)}`;
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
      el('span', { class: 'muted small' }, `video ${group.video} · ${formatTime(duration)} · ${group.hits.length} track${group.hits.length === 1 ? '' : 's'} · best ${formatScore(best)}`),
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
      'aria-label': playable ? `Play track ${hit.track} of ${baseName(hit.path)}` : undefined,
      title: playable ? 'Play the clip' : 'No clip (live stream runs are not recorded)',
      onclick: () => playHit(hit),
      onkeydown: (event) => {
        if (event.key === 'Enter' || event.key === ' ') {
          event.preventDefault();
          playHit(hit);
        }
      },
    },
    el('div', { class: 'thumb-wrap' }, mediaImage(hit.thumbnail, `Best frame of track ${hit.track ?? ''} at ${formatTime(hit.best?.t, true)}`, 'result-thumbnail', 'results'), playable ? el('span', { class: 'play-icon', 'aria-hidden': 'true' }, '▶') : null),
    el(
      'div',
      { class: 'card-body' },
      el('div', { class: 'card-line' }, el('strong', { class: 'score', 'data-testid': 'result-score' }, formatScore(hit.score)), el('span', { class: 'muted small' }, `#${rank} · track ${hit.track ?? '–'}`)),
      el('div', { class: 'scorebar', 'aria-hidden': 'true' }, el('span', { style: { width: `${Math.max(0, Math.min(1, hit.score)) * 100}%` } })),
      el('div', { class: 'small', 'data-testid': 'result-span' }, `${formatTime(hit.start, true)} – ${formatTime(hit.end, true)}`),
      el('div', { class: 'muted small' }, `best at ${formatTime(hit.best?.t, true)}`),
      hit.best?.region ? feedbackButtons(hit.best.region) : null,
    ),
  );
  return card;
}

/** ✓ / ✗ on a card: this hit is (not) the object; the next search moves the query towards (away from) it. */
function feedbackButtons(region) {
  const buttons = [];
  const refresh = () => {
    for (const button of buttons) button.setAttribute('aria-pressed', String(feedback.get(region) === button.dataset.verdict));
    const count = feedback.size;
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
        'aria-pressed': String(feedback.get(region) === verdict),
        onclick: (event) => {
          event.stopPropagation(); // the card itself plays the clip
          if (feedback.get(region) === verdict) feedback.delete(region);
          else feedback.set(region, verdict);
          refresh();
        },
        onkeydown: (event) => event.stopPropagation(),
      }, symbol),
    );
  }
  return el('div', { class: 'feedback' }, ...buttons);
}

// ---------------------------------------------------------------- clip player

let playerToken = 0;
const player = $('player');
const video = /** @type {HTMLVideoElement} */ ($('player-video'));

async function playHit(hit) {
  const title = `${baseName(hit.path)} · track ${hit.track ?? '–'} · ${formatTime(hit.start, true)}–${formatTime(hit.end, true)}`;
  $('player-title').textContent = title;
  const info = $('player-info');
  player.hidden = false;
  video.removeAttribute('src');
  video.load();
  if (!hit.clip) {
    info.textContent = 'This hit has no clip: live stream runs are not recorded.';
    return;
  }
  info.textContent = 'Preparing the clip (the first time it is cut from the video)…';
  const mine = ++playerToken;
  try {
    const url = await mediaUrl(hit.clip, 'clips');
    if (mine !== playerToken || player.hidden) return;
    video.src = url;
    info.textContent = `Score ${formatScore(hit.score)} · best frame at ${formatTime(hit.best?.t, true)} · the box marks the object.`;
    await video.play().catch(() => undefined);
  } catch (error) {
    if (mine === playerToken) info.textContent = `Cannot load the clip: ${error.message}`;
  }
  $('player-close').focus();
}

function closePlayer() {
  playerToken++;
  player.hidden = true;
  video.pause();
}

$('player-close').addEventListener('click', closePlayer);
player.addEventListener('click', (event) => {
  if (event.target === player) closePlayer();
});
document.addEventListener('keydown', (event) => {
  if (event.key === 'Escape' && !player.hidden) closePlayer();
});

// ---------------------------------------------------------------- videos

let videosTimer = 0;

function schedule(kind, fn) {
  if (kind === 'videos') {
    clearTimeout(videosTimer);
    videosTimer = window.setTimeout(fn, POLL_MS);
  } else {
    clearTimeout(streamsTimer);
    streamsTimer = window.setTimeout(fn, POLL_MS);
  }
}

async function refreshVideos() {
  clearTimeout(videosTimer);
  let data;
  try {
    data = await api('/v1/videos');
  } catch (error) {
    $('videos-status').textContent = `Cannot list videos: ${error.message}`;
    if (error.status !== 401) schedule('videos', refreshVideos);
    return;
  }
  $('videos-status').textContent = '';
  renderVideos(data.videos ?? [], data.jobs ?? []);
  const busy = (data.videos ?? []).some((v) => v.status === 'indexing') || (data.jobs ?? []).some((j) => j.state === 'queued' || j.state === 'indexing');
  if (busy) schedule('videos', refreshVideos);
}

function progressBar(fraction, label, testid) {
  const pct = Math.round(Math.max(0, Math.min(1, fraction)) * 100);
  return el('div', { class: 'progress', role: 'progressbar', 'aria-valuemin': '0', 'aria-valuemax': '100', 'aria-valuenow': String(pct), 'aria-label': label, 'data-testid': testid }, el('span', { style: { width: `${pct}%` } }));
}

function renderVideos(videos, jobs) {
  const rows = $('video-rows');
  rows.replaceChildren();
  const files = videos.filter((v) => v.sourceKind === 'file');
  const live = videos.filter((v) => v.sourceKind !== 'file');
  $('videos-count').textContent = files.length ? String(files.length) : '';
  for (const v of [...files, ...live]) {
    const p = v.progress;
    const status = el('span', { class: `badge state-${v.status}`, 'data-testid': 'video-status' }, v.status);
    const statusCell = el('td', {}, status);
    if (p && (p.state === 'indexing' || p.state === 'queued')) {
      const fraction = p.duration ? p.position / p.duration : 0;
      statusCell.append(
        progressBar(fraction, `indexing ${baseName(v.path)}`, 'video-progress'),
        el('span', { class: 'muted small' }, p.state === 'queued' ? 'queued' : p.duration ? `${formatTime(p.position)} / ${formatTime(p.duration)}` : 'starting…'),
      );
    }
    rows.append(
      el(
        'tr',
        { 'data-testid': 'video-row', dataset: { video: v.id, status: v.status } },
        el('td', {}, String(v.id)),
        el('td', { class: 'path', title: v.path }, baseName(v.path), v.sourceKind !== 'file' ? el('span', { class: 'muted small' }, ' (live run)') : null),
        statusCell,
        el('td', {}, v.width && v.height ? `${v.width}×${v.height}` : '–'),
        el('td', {}, formatTime(v.duration)),
        el('td', {}, formatInt(v.keyframeCount)),
        el('td', {}, formatInt(v.regionCount)),
        el('td', {}, formatInt(v.trackCount)),
        el('td', { class: 'actions' }, el('button', { type: 'button', class: 'danger', 'data-testid': 'video-delete', onclick: () => deleteVideo(v) }, 'Delete')),
      ),
    );
  }
  $('videos-empty').hidden = videos.length > 0;
  // jobs that have no video row (yet, or because they failed before one existed)
  const shown = new Set(videos.map((v) => v.id));
  const pending = jobs.filter((j) => (j.videoId === null || !shown.has(j.videoId)) && (j.state === 'queued' || j.state === 'indexing' || j.state === 'failed'));
  $('jobs').replaceChildren(
    ...pending.map((j) =>
      el(
        'div',
        { class: `job state-${j.state}`, 'data-testid': 'job', dataset: { job: j.id, state: j.state } },
        el('span', { class: `badge state-${j.state}` }, j.state),
        ' ',
        baseName(j.path),
        j.error ? el('span', { class: 'error-text small' }, ` — ${j.error}`) : null,
      ),
    ),
  );
}

async function deleteVideo(v) {
  if (!confirm(`Delete video ${v.id} (${baseName(v.path)}) and its index entries?`)) return;
  try {
    await api(`/v1/videos/${v.id}`, { method: 'DELETE' });
  } catch (error) {
    showBanner(`Cannot delete video ${v.id}: ${error.message}`);
  }
  void refreshVideos();
}

$('videos-refresh').addEventListener('click', () => void refreshVideos());

$('upload-file').addEventListener('change', (event) => {
  const input = /** @type {HTMLInputElement} */ (event.target);
  const files = [...(input.files ?? [])];
  input.value = '';
  void (async () => {
    for (const file of files) await upload(file);
  })();
});

/** Uploads with XMLHttpRequest, for its upload progress events. */
function upload(file) {
  const bar = progressBar(0, `uploading ${file.name}`, 'upload-progress');
  const text = el('span', { class: 'muted small' }, 'starting…');
  const item = el('li', { 'data-testid': 'upload' }, el('span', { class: 'path' }, file.name), el('span', { class: 'muted small' }, formatBytes(file.size)), bar, text);
  $('uploads').prepend(item);
  const failed = (message) => {
    item.classList.add('failed');
    text.textContent = 'failed';
    item.append(
      el('span', { class: 'upload-error error-text small', 'data-testid': 'upload-error' }, message),
      el('button', { type: 'button', class: 'dismiss', 'aria-label': `Dismiss the failed upload of ${file.name}`, onclick: () => item.remove() }, '✕'),
    );
  };
  return new Promise((resolve) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', '/v1/videos');
    if (token) xhr.setRequestHeader('authorization', `Bearer ${token}`);
    xhr.upload.addEventListener('progress', (event) => {
      if (!event.lengthComputable) return;
      const fraction = event.loaded / event.total;
      /** @type {HTMLElement} */ (bar.firstChild).style.width = `${Math.round(fraction * 100)}%`;
      bar.setAttribute('aria-valuenow', String(Math.round(fraction * 100)));
      text.textContent = `${Math.round(fraction * 100)} %`;
    });
    xhr.addEventListener('load', () => {
      if (xhr.status === 202 || xhr.status === 200) {
        try {
          const path = JSON.parse(xhr.responseText).job?.path;
          if (typeof path === 'string') rememberUploadName(path, file.name);
        } catch {
          /* the name stays the generated one */
        }
        text.textContent = 'uploaded — indexing';
        item.classList.add('done');
        setTimeout(() => item.remove(), 8000);
      } else {
        let message = `${xhr.status} ${xhr.statusText}`;
        try {
          message = JSON.parse(xhr.responseText).error.message ?? message;
        } catch {
          /* not JSON */
        }
        if (xhr.status === 401) noteUnauthorized();
        failed(message);
      }
      void refreshVideos();
      resolve(undefined);
    });
    xhr.addEventListener('error', () => {
      failed('the connection broke');
      resolve(undefined);
    });
    const form = new FormData();
    form.append('file', file, file.name);
    xhr.send(form);
  });
}

// ---------------------------------------------------------------- streams

let streamsTimer = 0;
/** @type {Map<number, {id: number, url: string, name: string | null}>} */
const streamNames = new Map();

async function refreshStreams() {
  clearTimeout(streamsTimer);
  let data;
  try {
    data = await api('/v1/streams');
  } catch (error) {
    if (error.status !== 401) schedule('streams', refreshStreams);
    return;
  }
  renderStreams(data.streams ?? []);
  // poll while the streams view is open (counters move), or while a stream is not live yet
  const visible = !$('tab-streams').hidden;
  if (visible || (data.streams ?? []).some((s) => s.state === 'connecting' || s.state === 'reconnecting')) schedule('streams', refreshStreams);
}

function streamLabel(id) {
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

// ---------------------------------------------------------------- live subscriptions

const live = {
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

function connectLive() {
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
  releaseMedia('live');
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
    mediaImage(m.thumbnail, `Match on ${streamLabel(m.stream)} at ${formatTime(m.t, true)}`, 'live-thumbnail', 'live'),
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

// ---------------------------------------------------------------- start

$('token-form').addEventListener('submit', (event) => {
  event.preventDefault();
  setToken(/** @type {HTMLInputElement} */ ($('token-input')).value);
  unauthorized = false;
  showBanner('');
  void refreshVideos();
  void refreshStreams();
  if (!$('tab-live').hidden || live.socket) connectLive();
});

for (const button of document.querySelectorAll('[role="tab"]')) {
  button.addEventListener('click', () => selectTab(button.getAttribute('data-tab') ?? 'results'));
}

document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible') {
    void refreshVideos();
    if (!$('tab-streams').hidden) void refreshStreams();
  }
});

initToken();
updateQueryControls();
if (token) {
  void refreshVideos();
  void refreshStreams();
} else noteUnauthorized();
