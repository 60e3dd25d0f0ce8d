import { useEffect, useRef, useState } from "preact/hooks";

const pad = (n) => String(n).padStart(2, "0");

// Unix seconds as local "YYYY-MM-DD HH:MM:SS".
export function formatTime(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  const d = new Date(seconds * 1000);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export function formatHour(seconds) {
  const d = new Date(seconds * 1000);
  return `${pad(d.getHours())}:00`;
}

// A datetime-local field's value for unix seconds, and back.
export function toLocalInput(seconds) {
  const d = new Date(seconds * 1000);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

export function fromLocalInput(value) {
  const ms = new Date(value).getTime();
  return Number.isNaN(ms) ? null : Math.floor(ms / 1000);
}

export const number = (n) => (n === null || n === undefined ? "–" : n.toLocaleString("en-US"));

export function useHash() {
  const [hash, setHash] = useState(location.hash);
  useEffect(() => {
    const changed = () => setHash(location.hash);
    addEventListener("hashchange", changed);
    return () => removeEventListener("hashchange", changed);
  }, []);
  return hash;
}

export function navigate(hash) {
  location.hash = hash;
}

// Calls `callback` every `ms` while mounted (and `active`), never two at once.
export function useInterval(callback, ms, active = true) {
  const saved = useRef(callback);
  saved.current = callback;
  useEffect(() => {
    if (!active) return undefined;
    let busy = false;
    const id = setInterval(async () => {
      if (busy) return;
      busy = true;
      try {
        await saved.current();
      } finally {
        busy = false;
      }
    }, ms);
    return () => clearInterval(id);
  }, [ms, active]);
}

// One message line: role=status for news, role=alert for errors.
export function Notice({ notice }) {
  if (!notice) return null;
  return (
    <p class={`notice ${notice.error ? "error" : "ok"}`} role={notice.error ? "alert" : "status"}>
      {notice.text}
    </p>
  );
}

export function errorNotice(error) {
  return { error: true, text: error.message };
}

export function ProgressBar({ label, value, text }) {
  const now = Math.max(0, Math.min(100, Math.round(value)));
  return (
    <div class="progress-row">
      <div
        class="progress"
        role="progressbar"
        aria-label={label}
        aria-valuemin="0"
        aria-valuemax="100"
        aria-valuenow={now}
        aria-valuetext={text || `${now}%`}
      >
        <div class="progress-fill" style={{ width: `${now}%` }} />
      </div>
      <span class="progress-text">{text || `${now}%`}</span>
    </div>
  );
}

// Cursor paging: the cursor of the page shown and those of the pages before it.
export function usePaging() {
  const [state, setState] = useState({ cursor: null, back: [] });
  return {
    cursor: state.cursor,
    hasPrevious: state.back.length > 0,
    next: (cursor) => setState((s) => ({ cursor, back: [...s.back, s.cursor] })),
    previous: () => setState((s) => ({ cursor: s.back[s.back.length - 1], back: s.back.slice(0, -1) })),
    reset: () => setState({ cursor: null, back: [] }),
  };
}

export function Pager({ what, paging, nextCursor }) {
  return (
    <div class="pager">
      <button type="button" aria-label={`Previous page of ${what}`} disabled={!paging.hasPrevious}
        onClick={paging.previous}>
        ← Previous
      </button>
      <button type="button" aria-label={`Next page of ${what}`} disabled={!nextCursor}
        onClick={() => paging.next(nextCursor)}>
        Next →
      </button>
    </div>
  );
}
