import { useEffect, useState } from "preact/hooks";
import { api, monitorPath } from "./api.js";
import { AddressesSection } from "./addresses.jsx";
import { StatsSection } from "./charts.jsx";
import { DeliveriesSection } from "./deliveries.jsx";
import { BackfillSection, ReconcileSection } from "./jobs.jsx";
import { MonitorForm } from "./monitor_form.jsx";
import { HealthBadge, LastDelivery, addressCount } from "./monitors.jsx";
import { Notice, errorNotice, formatTime, navigate, useInterval } from "./util.jsx";

function SecretPanel({ secret, onDone }) {
  return (
    <div class="secret" role="region" aria-label="Webhook secret">
      <p>
        <strong>Webhook secret:</strong> <code class="secret-value">{secret.secret}</code>
      </p>
      <p>
        It is shown only now: store it where your receiver reads it. Receivers check each delivery's
        signature with it.
        {secret.previousExpiresAt
          ? ` Until ${formatTime(secret.previousExpiresAt)} deliveries carry a second signature made with the previous secret.`
          : ""}
      </p>
      <button type="button" onClick={onDone}>I have stored it</button>
    </div>
  );
}

function Actions({ monitor, onRotated, onChanged }) {
  const [notice, setNotice] = useState(null);
  const [busy, setBusy] = useState(false);
  const [confirming, setConfirming] = useState(false);
  const run = async (work) => {
    setBusy(true);
    setNotice(null);
    try {
      await work();
    } catch (error) {
      setNotice(errorNotice(error));
    } finally {
      setBusy(false);
    }
  };
  const sendTest = () => run(async () => {
    const result = await api("POST", monitorPath(monitor.id, "/test"));
    const answer = result.status_code === null ? "did not answer" : `answered ${result.status_code}`;
    setNotice({
      error: !result.ok,
      text: `Test delivery: the endpoint ${answer} in ${result.latency_ms} ms${result.error ? ` (${result.error})` : ""}.`,
    });
    onChanged();
  });
  const rotate = () => run(async () => {
    const answer = await api("POST", monitorPath(monitor.id, "/rotate-secret"));
    onRotated({ monitorId: monitor.id, secret: answer.secret, previousExpiresAt: answer.previous_secret_expires_at });
  });
  const remove = () => run(async () => {
    await api("DELETE", monitorPath(monitor.id));
    navigate("#/monitors");
  });
  return (
    <div class="actions">
      <div class="button-row">
        <button type="button" disabled={busy} onClick={sendTest}>Send test</button>
        <button type="button" disabled={busy} onClick={rotate}>Rotate secret</button>
        {!confirming && <button type="button" class="danger" disabled={busy} onClick={() => setConfirming(true)}>Delete monitor</button>}
      </div>
      {confirming && (
        <div class="confirm" role="group" aria-label="Confirm delete">
          <p>Delete this monitor, its addresses and its delivery log? This cannot be undone.</p>
          <button type="button" class="danger" disabled={busy} onClick={remove}>Delete for good</button>
          <button type="button" onClick={() => setConfirming(false)}>Cancel</button>
        </div>
      )}
      <Notice notice={notice} />
    </div>
  );
}

export function MonitorPage({ id, createdSecret, onSecretSeen }) {
  const [monitor, setMonitor] = useState(null);
  const [notice, setNotice] = useState(null);
  const [secret, setSecret] = useState(createdSecret);
  const [version, setVersion] = useState(0);  // bumped when something the sections show changed
  const load = async () => {
    try {
      setMonitor(await api("GET", monitorPath(id)));
    } catch (error) {
      setNotice(errorNotice(error));
    }
  };
  useEffect(() => {
    load();
  }, [id]);
  useEffect(() => {
    if (createdSecret) onSecretSeen();  // shown once: leaving the page forgets it
  }, []);
  const running = (job) => job && (job.status === "queued" || job.status === "running");
  useInterval(load, 1000, Boolean(monitor && (running(monitor.backfill) || running(monitor.reconcile))));
  useInterval(load, 10000, Boolean(monitor));

  if (!monitor) {
    return (
      <section>
        <p class="crumbs"><a href="#/monitors">← Monitor list</a></p>
        <Notice notice={notice || { text: "Loading…" }} />
      </section>
    );
  }
  const changed = () => {
    load();
    setVersion((v) => v + 1);
  };
  return (
    <section>
      <p class="crumbs"><a href="#/monitors">← Monitor list</a></p>
      <div class="title-row">
        <h1>{monitor.name}</h1>
        <HealthBadge health={monitor.health} />
        {!monitor.active && <span class="badge paused">paused</span>}
      </div>
      {secret && <SecretPanel secret={secret} onDone={() => setSecret(null)} />}
      <dl class="facts">
        <dt>Id</dt><dd><code>{monitor.id}</code></dd>
        <dt>Webhook URL</dt><dd class="wrap">{monitor.webhook_url}</dd>
        <dt>Chains</dt>
        <dd>
          {(monitor.chains || []).map((chain) => (
            <span key={chain.chain_id} class="chain-fact">
              {chain.chain_id} (matched through {chain.matched_through_block ?? "–"}, sequence {chain.last_sequence})
            </span>
          ))}
        </dd>
        <dt>Kinds</dt><dd>{monitor.filters.kinds.join(", ")}</dd>
        <dt>Addresses</dt><dd>{addressCount(monitor)}</dd>
        <dt>Last delivery</dt><dd><LastDelivery last={monitor.last_delivery} /></dd>
        {monitor.health && monitor.health.last_failure && (
          <>
            <dt>Last failure</dt><dd class="wrap">{monitor.health.last_failure}</dd>
          </>
        )}
      </dl>
      <Actions monitor={monitor} onRotated={setSecret} onChanged={changed} />
      <StatsSection monitorId={monitor.id} version={version} />
      <DeliveriesSection monitorId={monitor.id} version={version} onChanged={changed} />
      <AddressesSection monitor={monitor} onChanged={changed} />
      <BackfillSection monitor={monitor} onStarted={changed} />
      <ReconcileSection monitor={monitor} onStarted={changed} />
      <section class="panel" aria-labelledby="settings-heading">
        <h2 id="settings-heading">Settings</h2>
        <MonitorForm key={monitor.id} monitor={monitor} onSaved={setMonitor} />
      </section>
    </section>
  );
}
