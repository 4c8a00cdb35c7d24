// @ts-check
// The clip player: a hit's clip (its box burned in), fetched with the token.
import { $, formatTime, formatScore, baseName } from './dom.js';
import { mediaUrl } from './api.js';

let playerToken = 0;
const player = $('player');
const video = /** @type {HTMLVideoElement} */ ($('player-video'));

export async function playHit(hit) {
  const title = `${baseName(hit.path)} · track ${hit.track ?? '–'} · ${formatTime(hit.start, true)}–${formatTime(hit.end, true)}`;
  $('player-title').textContent = title;
  const info = $('player-info');
  player.hidden = false;
  video.removeAttribute('src');
  video.load();
  if (!hit.clip) {
    info.textContent = 'This hit has no clip: this moment of the live stream was not recorded (or retention removed it).';
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
