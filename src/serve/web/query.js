// @ts-check
// The query: one or more views of the object (images chosen, pasted or dropped, each with the box drawn on it), and
// the hits marked right or wrong for it. The fields blob … box are the view on the canvas.
import { $, el, showBanner } from './dom.js';
import { isUnauthorized } from './api.js';

export const query = {
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
  /** hits marked right or wrong since the image was chosen, by region id: sent with the next search (relevance feedback) */
  feedback: new Map(),
  /** a search with it is running */
  searching: false,
  /** @type {{blob: Blob, name: string, picture: ImageBitmap | HTMLImageElement, width: number, height: number, box: number[] | null}[]} every view; the one on the canvas is views[current] */
  views: [],
  current: 0,
};

/** The views as a search sends them (the one on the canvas as it is now). */
export function allViews() {
  saveCurrentView();
  return query.views;
}

function saveCurrentView() {
  if (query.blob && query.picture) query.views[query.current] = { blob: query.blob, name: query.name, picture: query.picture, width: query.width, height: query.height, box: query.box };
}

/** Puts view i on the canvas. */
function showView(i) {
  const view = query.views[i];
  if (!view) return;
  query.current = i;
  Object.assign(query, { blob: view.blob, name: view.name, picture: view.picture, width: view.width, height: view.height, box: view.box, drag: null });
  const scale = Math.min(1, MAX_CANVAS_SIDE / Math.max(view.width, view.height));
  canvas.width = Math.max(1, Math.round(view.width * scale));
  canvas.height = Math.max(1, Math.round(view.height * scale));
  // fill the panel's width, but never taller than 60% of the window
  canvas.style.maxWidth = `calc(60vh * ${view.width / view.height})`;
  canvas.hidden = false;
  $('canvas-hint').hidden = true;
  drawQuery();
  updateQueryControls();
}

/** The strip of views: select one to see and box it, remove one. */
function renderViews() {
  const several = query.views.length > 1;
  $('query-views').replaceChildren(
    ...query.views.flatMap((view, i) => [
      el(
        'button',
        {
          type: 'button',
          class: 'view-chip',
          'data-testid': 'query-view',
          'aria-pressed': String(i === query.current),
          title: view.name,
          onclick: () => {
            saveCurrentView();
            showView(i);
          },
        },
        `View ${i + 1}${(i === query.current ? query.box : view.box) ? ' ▭' : ''}`,
      ),
      several
        ? el('button', {
            type: 'button',
            class: 'view-remove',
            'data-testid': 'query-view-remove',
            'aria-label': `Remove view ${i + 1}`,
            onclick: () => {
              saveCurrentView();
              query.views.splice(i, 1);
              query.feedback.clear();
              showView(Math.min(query.current, query.views.length - 1));
            },
          }, '×')
        : null,
    ]).filter((node) => node !== null),
  );
}

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

/** A new query from `blob`, or with `add` one more view of the same object. */
async function setQueryImage(blob, name, add = false) {
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
  if (!isUnauthorized()) showBanner('');
  query.feedback.clear(); // marks belong to the hits of another query
  const view = { blob, name: name || `pasted.${(blob.type.split('/')[1] || 'png').replace('jpeg', 'jpg')}`, picture, width: picture.width, height: picture.height, box: null };
  if (add && query.blob) {
    saveCurrentView();
    query.views.push(view);
  } else {
    query.views = [view];
  }
  showView(query.views.length - 1);
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

export function updateQueryControls() {
  const info = $('box-info');
  const which = query.views.length > 1 ? `View ${query.current + 1} of ${query.views.length} (searched together): ` : '';
  const shots = /** @type {HTMLInputElement} */ ($('opt-shot')).checked;
  if (!query.blob) info.textContent = 'No image yet.';
  else if (shots) info.textContent = `${which}${query.name}, ${query.width} × ${query.height}. Shot search: the whole image is the scene (a box is not used).`;
  else if (query.box) {
    const [x, y, w, h] = query.box;
    info.textContent = `${which}Box x ${x}, y ${y}, ${w} × ${h} px of ${query.width} × ${query.height}.`;
  } else info.textContent = `${which}${query.name}, ${query.width} × ${query.height}. No box: the whole image is the object, as a cut-out crop — drag to draw one around it in a larger picture.`;
  renderViews();
  $('add-view').classList.toggle('disabled', !query.blob);
  /** @type {HTMLInputElement} */ ($('query-add-file')).disabled = !query.blob;
  info.dataset.box = query.box ? query.box.join(',') : '';
  /** @type {HTMLButtonElement} */ ($('clear-box')).disabled = !query.box;
  /** @type {HTMLButtonElement} */ ($('search-button')).disabled = !query.blob || query.searching;
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
  input.value = '';
  if (file) void setQueryImage(file, file.name);
});

$('query-add-file').addEventListener('change', (event) => {
  const input = /** @type {HTMLInputElement} */ (event.target);
  const file = input.files?.[0];
  input.value = '';
  if (file) void setQueryImage(file, file.name, true);
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
