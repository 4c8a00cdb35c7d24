// @ts-check
// Small helpers of the web UI: elements, formats, the banner, remembered upload names, polling.

export const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));
export const POLL_MS = 2000;

/** Creates an element: el('div', { class: 'x', dataset: { a: 1 }, onclick }, child, 'text', …). */
export function el(tag, attrs = {}, ...children) {
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
export function formatTime(seconds, tenths = false) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return '–';
  const total = Math.max(0, seconds);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const sec = tenths ? (Math.floor(s * 10) / 10).toFixed(1).padStart(4, '0') : String(Math.floor(s)).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${String(m).padStart(2, '0')}:${sec}`;
}

export const formatScore = (score) => (typeof score === 'number' ? score.toFixed(3) : '–');
export const fileName = (path) => String(path ?? '').split(/[\\/]/).pop() || String(path ?? '');

// Uploads are stored under generated names: the names of files uploaded from this browser are remembered here.
const NAMES_KEY = 'dasr.uploadNames';
const uploadNames = (() => {
  try {
    return new Map(Object.entries(JSON.parse(localStorage.getItem(NAMES_KEY) ?? '{}')));
  } catch {
    return new Map();
  }
})();

export function rememberUploadName(path, name) {
  uploadNames.set(path, name);
  while (uploadNames.size > 500) uploadNames.delete(uploadNames.keys().next().value);
  try {
    localStorage.setItem(NAMES_KEY, JSON.stringify(Object.fromEntries(uploadNames)));
  } catch {
    /* storage unavailable or full: names last for this page */
  }
}

/** What to call a video: its uploaded file's name when known, else its file name. */
export const baseName = (path) => uploadNames.get(path) ?? fileName(path);
export const formatInt = (n) => (typeof n === 'number' ? n.toLocaleString() : '–');

export function formatBytes(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 ** 2) return `${(bytes / 1024).toFixed(0)} KiB`;
  if (bytes < 1024 ** 3) return `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
  return `${(bytes / 1024 ** 3).toFixed(2)} GiB`;
}

export function showBanner(message, kind = 'error') {
  const banner = $('banner');
  banner.textContent = message;
  banner.className = `banner ${kind}`;
  banner.hidden = !message;
}

/** Runs `fn` again POLL_MS after `again()`; `cancel()` (or a new `again()`) drops the pending run. */
export function poller(fn) {
  let timer = 0;
  return {
    again: () => {
      clearTimeout(timer);
      timer = window.setTimeout(fn, POLL_MS);
    },
    cancel: () => clearTimeout(timer),
  };
}

/**
 * An <img> of a media URL the API gave (signed: it needs no token). The description is set once the picture is
 * there (Chromium draws a broken-image icon for alt text without a picture).
 */
export function mediaImage(url, alt, testid) {
  const img = el('img', { alt: '', class: 'thumb loading', 'data-testid': testid, decoding: 'async' });
  if (url) {
    img.addEventListener('load', () => {
      img.alt = alt;
      img.classList.remove('loading');
    }, { once: true });
    img.addEventListener('error', () => {
      img.classList.remove('loading');
      img.classList.add('broken');
      img.alt = `${alt} (not available)`;
      img.title = 'no picture (not recorded, removed, or the link expired: search again)';
    }, { once: true });
    img.src = url;
  }
  return img;
}

/** "track 3", "track –" (a region the tracker did not link), or "shot of 4 keyframes". */
export function hitName(hit) {
  if (typeof hit.keyframeCount === 'number') return `shot of ${hit.keyframeCount} keyframe${hit.keyframeCount === 1 ? '' : 's'}`;
  return `track ${hit.track ?? '–'}`;
}
