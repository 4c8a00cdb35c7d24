// @ts-check
// The web UI of `dasr serve`: plain ES modules, no framework, no build step, nothing loaded from elsewhere.
// Every API call carries the token in a header; media (thumbnails, clips) are fetched the same way and shown
// through blob URLs. The WebSocket takes the token in its query string (browsers cannot set its headers).
import { $ } from './dom.js';
import { token, setToken, initToken, noteUnauthorized, clearUnauthorized } from './api.js';
import { updateQueryControls } from './query.js';
import './results.js';
import { refreshVideos } from './videos.js';
import { refreshStreams } from './streams.js';
import { live, connectLive } from './live.js';
import { selectTab } from './tabs.js';

$('token-form').addEventListener('submit', (event) => {
  event.preventDefault();
  setToken(/** @type {HTMLInputElement} */ ($('token-input')).value);
  clearUnauthorized();
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
