// @ts-check
// The tabs: results, videos, streams, live; opening one refreshes what it shows.
import { $ } from './dom.js';
import { refreshVideos } from './videos.js';
import { refreshStreams } from './streams.js';
import { live, connectLive } from './live.js';

export function selectTab(name) {
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
