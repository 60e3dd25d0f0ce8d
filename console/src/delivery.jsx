import { useEffect, useState } from "preact/hooks";
import { api, monitorPath } from "./api.js";
import { StatusBadge } from "./deliveries.jsx";
import { Notice, errorNotice, formatTime } from "./util.jsx";

function prettyBody(body) {
  try {
    return JSON.stringify(JSON.parse(body), null, 2);
  } catch {
    return body;
  }
}

export function DeliveryPage({ monitorId, deliveryId }) {
  const [delivery, setDelivery] = useState(null);
  const [notice, setNotice] = useState(null);
  const [busy, setBusy] = useState(false);
  const path = monitorPath(monitorId, `/deliveries/${encodeURIComponent(deliveryId)}`);
  const load = async () => {
    try {
      setDelivery(await api("GET", path));
    } catch (error) {
      setNotice(errorNotice(error));
    }
  };
  useEffect(() => {
    load();
  }, [path]);
  const replay = async () => {
    setBusy(true);
    try {
      await api("POST", `${path}/replay`);
      setNotice({ text: "Replayed: the delivery is sent again (its attempts below as they come)." });
      await load();
      setTimeout(load, 2000);
    } catch (error) {
      setNotice(errorNotice(error));
    } finally {
      setBusy(false);
    }
  };
  const back = `#/monitors/${encodeURIComponent(monitorId)}`;
  return (
    <section>
      <p class="crumbs"><a href={back}>← Back to the monitor</a></p>
      <h1>Delivery <code>{deliveryId}</code></h1>
      <Notice notice={notice} />
      {delivery && (
        <>
          <div class="button-row">
            <button type="button" class="primary" disabled={busy} onClick={replay}>Replay</button>
            <button type="button" onClick={load}>Refresh</button>
          </div>
          <dl class="facts">
            <dt>Status</dt><dd><StatusBadge delivery={delivery} /></dd>
            <dt>Origin</dt><dd>{delivery.origin || "–"}</dd>
            <dt>Chain</dt><dd>{delivery.chain_id}</dd>
            <dt>Block</dt><dd>{delivery.block_number} <code class="wrap">{delivery.block_hash}</code>{delivery.removed ? " (removed by a reorg)" : ""}</dd>
            <dt>Sequence</dt><dd>{delivery.sequence ?? "–"}</dd>
            <dt>Events</dt><dd>{delivery.event_count}</dd>
            <dt>Attempts</dt><dd>{delivery.attempts}</dd>
            <dt>Created</dt><dd>{formatTime(delivery.created_at)}</dd>
            {delivery.next_attempt_at && (<><dt>Next attempt</dt><dd>{formatTime(delivery.next_attempt_at)}</dd></>)}
          </dl>
          <h2>Body</h2>
          <pre class="body" tabIndex={0} aria-label="Delivery body"><code>{prettyBody(delivery.body)}</code></pre>
          <h2>Headers</h2>
          {delivery.headers ? (
            <div class="table-wrap">
              <table>
                <thead><tr><th scope="col">Header</th><th scope="col">Value</th></tr></thead>
                <tbody>
                  {Object.entries(delivery.headers).map(([name, value]) => (
                    <tr key={name}><td><code>{name}</code></td><td class="wrap"><code>{value}</code></td></tr>
                  ))}
                </tbody>
              </table>
            </div>
          ) : <p class="muted">Not posted yet.</p>}
          <h2>Attempts</h2>
          {delivery.attempt_log.length === 0 ? <p class="muted">None yet.</p> : (
            <div class="table-wrap">
              <table class="attempts">
                <thead>
                  <tr>
                    <th scope="col">At</th>
                    <th scope="col">Status code</th>
                    <th scope="col">Duration</th>
                    <th scope="col">Error</th>
                    <th scope="col">Response</th>
                  </tr>
                </thead>
                <tbody>
                  {delivery.attempt_log.map((attempt, index) => (
                    <tr key={index}>
                      <td>{formatTime(attempt.at)}</td>
                      <td class="num">{attempt.status_code ?? "no answer"}</td>
                      <td class="num">{attempt.duration_ms} ms</td>
                      <td class="wrap">{attempt.error || "–"}</td>
                      <td class="wrap"><code>{attempt.response || ""}</code></td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
          {delivery.attempts > delivery.attempt_log.length && (
            <p class="hint">The latest {delivery.attempt_log.length} of {delivery.attempts} attempts are kept.</p>
          )}
        </>
      )}
    </section>
  );
}
