// @ts-check
// The videos tab: indexed videos with their progress, uploads with theirs, deletion.
import { $, el, formatTime, formatInt, formatBytes, baseName, rememberUploadName, showBanner, poller } from './dom.js';
import { api, token, noteUnauthorized } from './api.js';

const polling = poller(() => void refreshVideos());

export async function refreshVideos() {
  polling.cancel();
  let data;
  try {
    data = await api('/v1/videos');
  } catch (error) {
    $('videos-status').textContent = `Cannot list videos: ${error.message}`;
    if (error.status !== 401) polling.again();
    return;
  }
  $('videos-status').textContent = '';
  renderVideos(data.videos ?? [], data.jobs ?? []);
  const busy = (data.videos ?? []).some((v) => v.status === 'indexing') || (data.jobs ?? []).some((j) => j.state === 'queued' || j.state === 'indexing');
  if (busy) polling.again();
}

export function progressBar(fraction, label, testid) {
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
