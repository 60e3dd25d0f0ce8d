import { useEffect, useState } from "preact/hooks";
import { api, monitorPath, query } from "./api.js";
import { Notice, Pager, errorNotice, formatTime, fromLocalInput, toLocalInput, useInterval, usePaging } from "./util.jsx";

const STATUSES = ["pending", "delivered", "failed"];

export function StatusBadge({ delivery }) {
  const retrying = delivery.status === "pending" && delivery.retrying ? " (retrying)" : "";
  return <span class={`badge ${delivery.status}`}>{delivery.status}{retrying}</span>;
}

function ReplayFailed({ monitorId, onChanged }) {
  const now = Math.floor(Date.now() / 1000);
  const [since, setSince] = useState(toLocalInput(now - 24 * 3600));
  const [until, setUntil] = useState("");
  const [notice, setNotice] = useState(null);
  const [busy, setBusy] = useState(false);
  const submit = async (event) => {
    event.preventDefault();
    const from = fromLocalInput(since);
    // The fields hold minutes: "until" means to the end of that minute.
    const to = until ? fromLocalInput(until) + 59 : null;
    if (from === null) {
      setNotice({ error: true, text: "Give the start of the time range." });
      return;
    }
    setBusy(true);
    setNotice(null);
    let replayed = 0;
    try {
      // Replayed ones are pending again, so each call goes on with the next failed ones.
      for (;;) {
        const answer = await api("POST", monitorPath(monitorId, "/deliveries/replay"),
          { status: "failed", since: from, until: to });
        replayed += answer.replayed;
        setNotice({ text: `Replaying: ${replayed} so far…` });
        if (!answer.more) break;
      }
      setNotice({ text: `Replayed ${replayed} failed deliver${replayed === 1 ? "y" : "ies"}.` });
      onChanged();
    } catch (error) {
      setNotice({ error: true, text: `${replayed ? `${replayed} replayed, then: ` : ""}${error.message}` });
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="inline-form" onSubmit={submit} noValidate aria-label="Replay failed deliveries">
      <h3>Replay failed deliveries</h3>
      <div class="field">
        <label for="replay-since">Failed deliveries created from</label>
        <input id="replay-since" type="datetime-local" value={since} onInput={(e) => setSince(e.currentTarget.value)} />
      </div>
      <div class="field">
        <label for="replay-until">Created until</label>
        <input id="replay-until" type="datetime-local" value={until} aria-describedby="replay-until-hint"
          onInput={(e) => setUntil(e.currentTarget.value)} />
        <p id="replay-until-hint" class="hint">Empty: now.</p>
      </div>
      <button type="submit" disabled={busy}>Replay failed</button>
      <Notice notice={notice} />
    </form>
  );
}

export function DeliveriesSection({ monitorId, version, onChanged }) {
  const [status, setStatus] = useState("");
  const paging = usePaging();
  const [page, setPage] = useState(null);
  const [notice, setNotice] = useState(null);
  const load = async () => {
    try {
      setPage(await api("GET", monitorPath(monitorId, `/deliveries${query({ status, limit: 25, cursor: paging.cursor })}`)));
      setNotice(null);
    } catch (error) {
      setNotice(errorNotice(error));
    }
  };
  useEffect(() => {
    load();
  }, [status, paging.cursor, version]);
  // The first page follows new deliveries as they come.
  useInterval(load, 3000, !paging.cursor);
  return (
    <section class="panel" aria-labelledby="deliveries-heading">
      <h2 id="deliveries-heading">Deliveries</h2>
      <div class="toolbar">
        <label for="delivery-status">Status</label>
        <select id="delivery-status" value={status} onChange={(e) => {
          setStatus(e.currentTarget.value);
          paging.reset();
        }}>
          <option value="">all</option>
          {STATUSES.map((s) => <option key={s} value={s}>{s}</option>)}
        </select>
        <button type="button" onClick={load}>Refresh deliveries</button>
      </div>
      <Notice notice={notice} />
      {page && page.items.length === 0 && <p class="muted">No deliveries{status ? ` ${status}` : ""} yet.</p>}
      {page && page.items.length > 0 && (
        <div class="table-wrap">
          <table class="deliveries">
            <thead>
              <tr>
                <th scope="col">Delivery</th>
                <th scope="col">Status</th>
                <th scope="col">Origin</th>
                <th scope="col">Block</th>
                <th scope="col">Sequence</th>
                <th scope="col">Attempts</th>
                <th scope="col">Last status code</th>
                <th scope="col">Created</th>
              </tr>
            </thead>
            <tbody>
              {page.items.map((delivery) => (
                <tr key={delivery.id}>
                  <td><a href={`#/monitors/${encodeURIComponent(monitorId)}/deliveries/${encodeURIComponent(delivery.id)}`}><code>{delivery.id}</code></a></td>
                  <td><StatusBadge delivery={delivery} /></td>
                  <td>{delivery.origin || "–"}</td>
                  <td class="num">{delivery.chain_id}:{delivery.block_number}{delivery.removed ? " (removed)" : ""}</td>
                  <td class="num">{delivery.sequence ?? "–"}</td>
                  <td class="num">{delivery.attempts}</td>
                  <td class="num">{delivery.last_status_code ?? (delivery.last_error ? "no answer" : "–")}</td>
                  <td>{formatTime(delivery.created_at)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {page && <Pager what="deliveries" paging={paging} nextCursor={page.next_cursor} />}
      <ReplayFailed monitorId={monitorId} onChanged={onChanged} />
    </section>
  );
}
