// @ts-check
// The API token and every call made with it. (Media URLs come signed from the API: no token needed for them.)
import { $, showBanner } from './dom.js';

const TOKEN_KEY = 'dasr.token';

/** The token sent with every request ('' until one is known). */
export let token = '';

function readStoredToken() {
  try {
    return localStorage.getItem(TOKEN_KEY) ?? '';
  } catch {
    return '';
  }
}

export function setToken(value) {
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
export function initToken() {
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

/** A request was refused for its token: the banner says so until a request passes. */
let unauthorized = false;

export const isUnauthorized = () => unauthorized;

/** A new token was entered: forget the refusal. */
export function clearUnauthorized() {
  unauthorized = false;
  showBanner('');
}

export function noteUnauthorized() {
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
export async function api(path, init = {}) {
  const headers = new Headers(init.headers);
  if (token) headers.set('authorization', `Bearer ${token}`);
  let response;
  try {
    response = await fetch(path, { ...init, headers });
  } catch (error) {
    throw new ApiError(0, 'network', `cannot reach the service: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (!response.ok) throw await errorFrom(response);
  if (unauthorized) clearUnauthorized();
  if (response.status === 204) return null;
  const type = response.headers.get('content-type') ?? '';
  return type.includes('application/json') ? response.json() : response.blob();
}
