// flowgate board: fetching the board's JSON API and polling it.

export class HttpError extends Error {
  constructor(path, status) {
    super(`${path}: HTTP ${status}`);
    this.status = status;
  }
}

export async function getJSON(path) {
  const res = await fetch(path, { headers: { accept: 'application/json' }, cache: 'no-store' });
  if (!res.ok) throw new HttpError(path, res.status);
  return res.json();
}

/**
 * Sends a state-changing request as JSON (the board refuses any other body
 * type for writes). Resolves with the status and the parsed answer.
 */
export async function postJSON(path, body) {
  const res = await fetch(path, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json' }, body: JSON.stringify(body), cache: 'no-store' });
  let answer = null;
  try {
    answer = await res.json();
  } catch {
    answer = null;
  }
  return { status: res.status, ok: res.ok, body: answer };
}

/** An optional endpoint: null when it fails. */
export async function maybeJSON(path) {
  try {
    return await getJSON(path);
  } catch {
    return null;
  }
}

/**
 * Polls: `tick` (async) runs now and then `intervalMs` after it settles, while
 * the page is visible. One tick at a time; a refresh asked for during a tick
 * runs right after it. Returns `refresh`, which runs a tick at once.
 */
export function poller(tick, intervalMs) {
  let timer;
  let inflight = false;
  let again = false;

  async function refresh() {
    clearTimeout(timer);
    if (inflight) {
      again = true;
      return;
    }
    inflight = true;
    try {
      await tick();
    } finally {
      inflight = false;
      if (again) {
        again = false;
        void refresh();
      } else schedule();
    }
  }

  function schedule() {
    clearTimeout(timer);
    if (document.visibilityState === 'visible') timer = setTimeout(refresh, intervalMs);
  }

  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible') void refresh();
    else clearTimeout(timer);
  });

  return refresh;
}
