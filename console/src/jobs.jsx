import { useState } from "preact/hooks";
import { api, monitorPath } from "./api.js";
import { Notice, ProgressBar, errorNotice, number } from "./util.jsx";

function percent(done, job) {
  if (job.status === "done") return 100;
  const total = job.to_block - job.from_block + 1;
  return total > 0 ? (Math.max(0, done) / total) * 100 : 0;
}

function blockRange(from, to) {
  const range = { from_block: Number(from), to_block: Number(to) };
  if (!/^\d+$/.test(String(from).trim()) || !/^\d+$/.test(String(to).trim())) {
    return { error: "Give both blocks as numbers." };
  }
  if (range.from_block > range.to_block) return { error: "The first block comes after the last." };
  return range;
}

// The block fields and the chain (when the monitor watches several) of a backfill or a reconcile.
function useJobForm(monitor, start) {
  const [from, setFrom] = useState("");
  const [to, setTo] = useState("");
  const [chain, setChain] = useState(String(monitor.chain_ids[0]));
  const [notice, setNotice] = useState(null);
  const [busy, setBusy] = useState(false);
  const submit = async (event) => {
    event.preventDefault();
    const range = blockRange(from, to);
    if (range.error) {
      setNotice({ error: true, text: range.error });
      return;
    }
    if (monitor.chain_ids.length > 1) range.chain_id = Number(chain);
    setBusy(true);
    setNotice(null);
    try {
      await start(range);
    } catch (error) {
      setNotice(errorNotice(error));
    } finally {
      setBusy(false);
    }
  };
  return { from, setFrom, to, setTo, chain, setChain, notice, busy, submit };
}

function JobFields({ monitor, form, prefix, names }) {
  return (
    <>
      <div class="field">
        <label for={`${prefix}-from`}>{names[0]}</label>
        <input id={`${prefix}-from`} inputMode="numeric" value={form.from} onInput={(e) => form.setFrom(e.currentTarget.value)} />
      </div>
      <div class="field">
        <label for={`${prefix}-to`}>{names[1]}</label>
        <input id={`${prefix}-to`} inputMode="numeric" value={form.to} onInput={(e) => form.setTo(e.currentTarget.value)} />
      </div>
      {monitor.chain_ids.length > 1 && (
        <div class="field">
          <label for={`${prefix}-chain`}>{names[2]}</label>
          <select id={`${prefix}-chain`} value={form.chain} onChange={(e) => form.setChain(e.currentTarget.value)}>
            {monitor.chain_ids.map((id) => <option key={id} value={String(id)}>{id}</option>)}
          </select>
        </div>
      )}
    </>
  );
}

export function BackfillSection({ monitor, onStarted }) {
  const form = useJobForm(monitor, async (range) => {
    await api("POST", monitorPath(monitor.id, "/backfill"), range);
    onStarted();
  });
  const job = monitor.backfill;
  return (
    <section class="panel" aria-labelledby="backfill-heading">
      <h2 id="backfill-heading">Backfill</h2>
      <p class="hint">Sends this monitor the matches of past blocks.</p>
      <form class="inline-form" onSubmit={form.submit} noValidate aria-label="Backfill">
        <JobFields monitor={monitor} form={form} prefix="backfill" names={["From block", "To block", "Backfill chain"]} />
        <button type="submit" disabled={form.busy}>Start backfill</button>
      </form>
      <Notice notice={form.notice} />
      {job && (
        <div class="job">
          <p>
            Backfill of chain {job.chain_id}, blocks {number(job.from_block)}–{number(job.to_block)}:{" "}
            <strong>{job.status}</strong>, {number(job.next_block - job.from_block)} blocks done
            {job.error ? ` (${job.error})` : ""}.
          </p>
          <ProgressBar label="Backfill progress" value={percent(job.next_block - job.from_block, job)} />
        </div>
      )}
    </section>
  );
}

function ReconcileFindings({ monitorId }) {
  const [found, setFound] = useState(null);
  const [notice, setNotice] = useState(null);
  const show = async () => {
    try {
      setFound(await api("GET", monitorPath(monitorId, "/reconcile")));
    } catch (error) {
      setNotice(errorNotice(error));
    }
  };
  return (
    <div>
      <button type="button" onClick={show}>Show event ids</button>
      <Notice notice={notice} />
      {found && (
        <div class="findings">
          <h3>Missing ({number(found.missing_count)})</h3>
          {found.missing.length ? <ul class="ids">{found.missing.map((id) => <li key={id}><code>{id}</code></li>)}</ul> : <p class="muted">None.</p>}
          <h3>Extra ({number(found.extra_count)})</h3>
          {found.extra.length ? <ul class="ids">{found.extra.map((id) => <li key={id}><code>{id}</code></li>)}</ul> : <p class="muted">None.</p>}
        </div>
      )}
    </div>
  );
}

export function ReconcileSection({ monitor, onStarted }) {
  const [heal, setHeal] = useState(false);
  const form = useJobForm(monitor, async (range) => {
    await api("POST", monitorPath(monitor.id, "/reconcile"), { ...range, heal });
    onStarted();
  });
  const job = monitor.reconcile;
  return (
    <section class="panel" aria-labelledby="reconcile-heading">
      <h2 id="reconcile-heading">Reconcile</h2>
      <p class="hint">
        Compares this monitor's deliveries of past blocks with the chain: events never delivered (missing) and
        events delivered whose block a reorg took away (extra). With Heal it sends them.
      </p>
      <form class="inline-form" onSubmit={form.submit} noValidate aria-label="Reconcile">
        <JobFields monitor={monitor} form={form} prefix="reconcile"
          names={["Reconcile from block", "Reconcile to block", "Reconcile chain"]} />
        <label class="check">
          <input type="checkbox" checked={heal} onChange={(e) => setHeal(e.currentTarget.checked)} />
          Heal
        </label>
        <button type="submit" disabled={form.busy}>Start reconcile</button>
      </form>
      <Notice notice={form.notice} />
      {job && (
        <div class="job">
          <p>
            Reconcile of chain {job.chain_id}, blocks {number(job.from_block)}–{number(job.to_block)}
            {job.heal ? " (healing)" : ""}: <strong>{job.status}</strong>, checked through block{" "}
            {number(Math.max(job.checked_through, job.from_block - 1))}; found {number(job.missing_count)} missing and{" "}
            {number(job.extra_count)} extra{job.error ? ` (${job.error})` : ""}.
          </p>
          <ProgressBar label="Reconcile progress" value={percent(job.checked_through - job.from_block + 1, job)} />
          {job.status === "done" && <ReconcileFindings key={job.id} monitorId={monitor.id} />}
        </div>
      )}
    </section>
  );
}
