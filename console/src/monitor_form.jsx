import { useEffect, useState } from "preact/hooks";
import { api, monitorPath } from "./api.js";
import { describeErrors, parseAddresses } from "./csv.js";
import { KINDS } from "./kinds.js";
import { navigate } from "./util.jsx";

const FIELDS = ["name", "webhook_url", "chain_ids", "addresses", "condition", "confirmations", "active", "kinds",
  "contracts", "event_signatures"];
// Refusals that name no field in their details, by the field they are about.
const CODE_FIELDS = {
  invalid_condition: "condition",
  invalid_webhook_url: "webhook_url",
  unknown_chain: "chain_ids",
  traces_unavailable: "kinds",
  traces_unknown: "kinds",
  too_many_addresses: "addresses",
};

const lines = (text) => text.split("\n").map((line) => line.trim()).filter(Boolean);

function parseConfirmations(text) {
  const value = text.trim().toLowerCase();
  if (!value) return { value: null };
  if (value === "safe" || value === "finalized") return { value };
  if (/^\d+$/.test(value)) return { value: Number(value) };
  return { error: "a number of blocks, safe or finalized (empty: the chain's default)" };
}

// The API's refusal as messages by form field (`form`: the rest).
function errorsByField(error, addressLines) {
  const found = {};
  const add = (field, message) => {
    found[field] = found[field] ? `${found[field]}; ${message}` : message;
  };
  if (error.details.length === 0 || !error.details.some((d) => d && d.field !== undefined)) {
    add(CODE_FIELDS[error.code] || "form", error.message);
    return found;
  }
  for (const detail of error.details) {
    const path = String(detail.field || "").replace(/^filters\./, "");
    const field = FIELDS.find((name) => path === name || path.startsWith(`${name}[`) || path.startsWith(`${name}.`));
    let message = detail.message || error.message;
    const index = /^addresses\[(\d+)\]/.exec(path);
    if (field === "addresses" && index && addressLines[Number(index[1])]) {
      message = `line ${addressLines[Number(index[1])]}: ${message}`;
    }
    add(field || "form", field ? message : `${detail.field || detail.in}: ${message}`);
  }
  return found;
}

function initial(monitor) {
  if (!monitor) {
    return { name: "", webhook_url: "", chain_ids: [], addresses: "", condition: "", confirmations: "",
      active: true, kinds: [], contracts: "", event_signatures: "" };
  }
  return {
    name: monitor.name,
    webhook_url: monitor.webhook_url,
    chain_ids: monitor.chain_ids,
    addresses: "",
    condition: monitor.condition || "",
    confirmations: monitor.confirmations === null ? "" : String(monitor.confirmations),
    active: monitor.active,
    kinds: monitor.filters.kinds,
    contracts: monitor.filters.contracts.join("\n"),
    event_signatures: monitor.filters.event_signatures.join("\n"),
  };
}

function FieldError({ id, message }) {
  return message ? <p id={id} class="field-error">{message}</p> : null;
}

// The create and the edit form: `monitor` null creates.
export function MonitorForm({ monitor, onSaved }) {
  const creating = !monitor;
  const [values, setValues] = useState(() => initial(monitor));
  const [errors, setErrors] = useState({});
  const [chains, setChains] = useState(null);
  const [busy, setBusy] = useState(false);
  const [saved, setSaved] = useState(false);
  const prefix = creating ? "new" : "edit";
  const id = (name) => `${prefix}-${name}`;
  const set = (name) => (event) => {
    const target = event.currentTarget;
    setValues((v) => ({ ...v, [name]: target.type === "checkbox" ? target.checked : target.value }));
    setSaved(false);
  };

  useEffect(() => {
    api("GET", "chains")
      .then((answer) => {
        const ids = answer.items.map((chain) => chain.chain_id);
        setChains(ids);
        if (creating && ids.length === 1) setValues((v) => (v.chain_ids.length ? v : { ...v, chain_ids: ids }));
      })
      .catch(() => setChains([]));
  }, []);

  const submit = async (event) => {
    event.preventDefault();
    const found = {};
    const confirmations = parseConfirmations(values.confirmations);
    if (confirmations.error) found.confirmations = confirmations.error;
    let parsed = { rows: [], lines: [], errors: [] };
    if (creating && values.addresses.trim()) {
      parsed = parseAddresses(values.addresses);
      if (parsed.errors.length) found.addresses = describeErrors(parsed.errors);
    }
    if (Object.keys(found).length) {
      setErrors(found);
      return;
    }
    const filters = { contracts: lines(values.contracts), event_signatures: lines(values.event_signatures) };
    if (values.kinds.length || !creating) filters.kinds = KINDS.filter((kind) => values.kinds.includes(kind));
    if (creating && values.addresses.trim()) filters.addresses = parsed.rows;
    const body = {
      name: values.name,
      webhook_url: values.webhook_url.trim(),
      filters,
      condition: values.condition.trim() ? values.condition : null,
      confirmations: confirmations.value,
      active: values.active,
    };
    if (creating) body.chain_ids = values.chain_ids;
    setBusy(true);
    setErrors({});
    try {
      const answer = creating
        ? await api("POST", "monitors", body)
        : await api("PATCH", monitorPath(monitor.id), body);
      setSaved(!creating);
      onSaved(answer);
    } catch (error) {
      setErrors(errorsByField(error, parsed.lines));
    } finally {
      setBusy(false);
    }
  };

  const described = (name, hint) => [errors[name] ? id(`${name}-error`) : null, hint ? id(`${name}-hint`) : null]
    .filter(Boolean).join(" ") || undefined;
  const invalid = (name) => (errors[name] ? "true" : undefined);
  const fieldNames = Object.keys(errors);

  return (
    <form class="monitor-form" onSubmit={submit} noValidate aria-label={creating ? "New monitor" : "Monitor settings"}>
      {fieldNames.length > 0 && (
        <div class="notice error" role="alert">
          <p>Not saved{fieldNames.some((f) => f !== "form") ? ": see the fields marked below" : ""}.</p>
          {errors.form && <p>{errors.form}</p>}
        </div>
      )}
      {saved && <p class="notice ok" role="status">Saved.</p>}
      <div class="field">
        <label for={id("name")}>Name</label>
        <input id={id("name")} value={values.name} onInput={set("name")} maxLength={200}
          aria-invalid={invalid("name")} aria-describedby={described("name")} />
        <FieldError id={id("name-error")} message={errors.name} />
      </div>
      <div class="field">
        <label for={id("webhook_url")}>Webhook URL</label>
        <input id={id("webhook_url")} type="url" value={values.webhook_url} onInput={set("webhook_url")}
          placeholder="https://example.com/hooks/blockhook"
          aria-invalid={invalid("webhook_url")} aria-describedby={described("webhook_url")} />
        <FieldError id={id("webhook_url-error")} message={errors.webhook_url} />
      </div>
      <div class="field">
        <label for={id("chain_ids")}>Chains</label>
        <select id={id("chain_ids")} multiple disabled={!creating} size={Math.min(4, Math.max(2, (chains || []).length))}
          aria-invalid={invalid("chain_ids")} aria-describedby={described("chain_ids", true)}
          onChange={(e) => setValues((v) => ({
            ...v, chain_ids: Array.from(e.currentTarget.selectedOptions).map((o) => Number(o.value)),
          }))}>
          {[...new Set([...(chains || []), ...values.chain_ids])].map((chainId) => (
            <option key={chainId} value={String(chainId)} selected={values.chain_ids.includes(chainId)}>
              {chainId}
            </option>
          ))}
        </select>
        <p id={id("chain_ids-hint")} class="hint">
          {creating ? "The chains this monitor watches (Ctrl/⌘-click for several)." : "Chains are chosen when a monitor is created."}
        </p>
        <FieldError id={id("chain_ids-error")} message={errors.chain_ids} />
      </div>
      {creating && (
        <div class="field">
          <label for={id("addresses")}>Addresses</label>
          <textarea id={id("addresses")} rows={4} value={values.addresses} onInput={set("addresses")}
            placeholder="0x70997970C51812dc3A010C7d01b50e0d17dc79C8,customer-42" spellcheck={false}
            aria-invalid={invalid("addresses")} aria-describedby={described("addresses", true)} />
          <p id={id("addresses-hint")} class="hint">
            One <code>address</code> or <code>address,label</code> per line. Empty: the monitor watches every
            party of every event. More addresses, or a CSV file, on the monitor's page.
          </p>
          <FieldError id={id("addresses-error")} message={errors.addresses} />
        </div>
      )}
      <fieldset class="field kinds" aria-describedby={described("kinds", true)} aria-invalid={invalid("kinds")}>
        <legend>Event kinds</legend>
        {KINDS.map((kind) => (
          <label key={kind} class="check">
            <input type="checkbox" checked={values.kinds.includes(kind)}
              onChange={(e) => {
                const on = e.currentTarget.checked;
                setValues((v) => ({ ...v, kinds: on ? [...v.kinds, kind] : v.kinds.filter((k) => k !== kind) }));
              }} />
            {kind}
          </label>
        ))}
        <p id={id("kinds-hint")} class="hint">{creating ? "None checked: the default kinds." : "At least one."}</p>
        <FieldError id={id("kinds-error")} message={errors.kinds} />
      </fieldset>
      <div class="field">
        <label for={id("condition")}>Condition</label>
        <textarea id={id("condition")} rows={2} value={values.condition} onInput={set("condition")} spellcheck={false}
          placeholder={'event.kind == "native_transfer" && uint(event.value) > uint("1000000000000000000")'}
          aria-invalid={invalid("condition")} aria-describedby={described("condition", true)} />
        <p id={id("condition-hint")} class="hint">A CEL expression over each event; empty: every event that passes the filters.</p>
        <FieldError id={id("condition-error")} message={errors.condition} />
      </div>
      <div class="field">
        <label for={id("confirmations")}>Confirmations</label>
        <input id={id("confirmations")} value={values.confirmations} onInput={set("confirmations")}
          placeholder="chain default" list={id("confirmations-tags")}
          aria-invalid={invalid("confirmations")} aria-describedby={described("confirmations", true)} />
        <datalist id={id("confirmations-tags")}>
          <option value="safe" />
          <option value="finalized" />
        </datalist>
        <p id={id("confirmations-hint")} class="hint">
          Blocks on top before a block's events are sent, or <code>safe</code> / <code>finalized</code>; empty: the chain's default.
        </p>
        <FieldError id={id("confirmations-error")} message={errors.confirmations} />
      </div>
      <details class="field" open={Boolean(values.contracts || values.event_signatures || errors.contracts || errors.event_signatures)}>
        <summary>Contracts and event signatures</summary>
        <div class="field">
          <label for={id("contracts")}>Contracts</label>
          <textarea id={id("contracts")} rows={2} value={values.contracts} onInput={set("contracts")} spellcheck={false}
            aria-invalid={invalid("contracts")} aria-describedby={described("contracts", true)} />
          <p id={id("contracts-hint")} class="hint">One contract address per line: only the events these emit.</p>
          <FieldError id={id("contracts-error")} message={errors.contracts} />
        </div>
        <div class="field">
          <label for={id("event_signatures")}>Event signatures</label>
          <textarea id={id("event_signatures")} rows={2} value={values.event_signatures} spellcheck={false}
            onInput={set("event_signatures")} placeholder="Transfer(address indexed from, address indexed to, uint256 value)"
            aria-invalid={invalid("event_signatures")} aria-describedby={described("event_signatures", true)} />
          <p id={id("event_signatures-hint")} class="hint">One per line: logs with these signatures, their arguments decoded.</p>
          <FieldError id={id("event_signatures-error")} message={errors.event_signatures} />
        </div>
      </details>
      <div class="field">
        <label class="check">
          <input type="checkbox" checked={values.active} onChange={set("active")} aria-describedby={described("active")} />
          Active
        </label>
        <FieldError id={id("active-error")} message={errors.active} />
      </div>
      <button type="submit" class="primary" disabled={busy}>{creating ? "Create" : "Save"}</button>
    </form>
  );
}

export function NewMonitorPage({ onCreated }) {
  return (
    <section>
      <p class="crumbs"><a href="#/monitors">← Monitor list</a></p>
      <h1>New monitor</h1>
      <MonitorForm monitor={null} onSaved={(created) => {
        onCreated({ monitorId: created.id, secret: created.secret });
        navigate(`#/monitors/${encodeURIComponent(created.id)}`);
      }} />
    </section>
  );
}
