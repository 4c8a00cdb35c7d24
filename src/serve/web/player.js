// @ts-check
// The clip player: a hit's clip (its box burned in), fetched with the token.
import { $, formatTime, formatScore, baseName, hitName } from './dom.js';

let playerToken = 0;
const player = $('player');
const video = /** @type {HTMLVideoElement} */ ($('player-video'));

/** Plays the hit's clip: its signed URL straight in the <video>, which asks for the byte ranges it needs. */
export function playHit(hit) {
  const title = `${baseName(hit.path)} · ${hitName(hit)} · ${formatTime(hit.start, true)}–${formatTime(hit.end, true)}`;
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
  video.onloadeddata = () => {
    if (mine === playerToken) info.textContent = `Score ${formatScore(hit.score)} · best frame at ${formatTime(hit.best?.t, true)}${typeof hit.keyframeCount === 'number' ? '' : ' · the box marks the object'}.`;
  };
  video.onerror = () => {
    if (mine === playerToken && !player.hidden) info.textContent = 'Cannot load the clip (the link may have expired: search again).';
  };
  video.src = hit.clip;
  void video.play().catch(() => undefined);
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
