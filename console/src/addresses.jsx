import { useEffect, useState } from "preact/hooks";
import { api, monitorPath, query } from "./api.js";
import { describeErrors, parseAddresses } from "./csv.js";
import { Notice, Pager, ProgressBar, errorNotice, number, usePaging } from "./util.jsx";

const PER_CALL = 10000; // the API's limit of addresses a call

function Import({ monitor, onChanged }) {
  const [file, setFile] = useState(null);
  const [progress, setProgress] = useState(null);
  const [notice, setNotice] = useState(null);
  const [busy, setBusy] = useState(false);
  const submit = async (event) => {
    event.preventDefault();
    if (!file) {
      setNotice({ error: true, text: "Choose a CSV file first." });
      return;
    }
    setBusy(true);
    setNotice(null);
    setProgress(null);
    const { rows, lines, errors } = parseAddresses(await file.text());
    if (errors.length) {
      setNotice({ error: true, text: describeErrors(errors) });
      setBusy(false);
      return;
    }
    if (rows.length === 0) {
      setNotice({ error: true, text: "The file has no addresses." });
      setBusy(false);
      return;
    }
    let sent = 0;
    let added = 0;
    let count = monitor.address_count;
    setProgress(0);
    try {
      for (; sent < rows.length; sent += PER_CALL) {
        const answer = await api("POST", monitorPath(monitor.id, "/addresses"), { add: rows.slice(sent, sent + PER_CALL) });
        added += answer.added;
        count = answer.address_count;
        setProgress((Math.min(sent + PER_CALL, rows.length) / rows.length) * 100);
      }
      setNotice({
        text: `Imported ${number(rows.length)} rows: ${number(added)} new addresses; the monitor has ${number(count)} addresses now.`,
      });
    } catch (error) {
      const where = error.details && error.details[0] && /^add\[(\d+)\]/.exec(error.details[0].field || "");
      const line = where ? ` (line ${lines[sent + Number(where[1])]})` : "";
      setNotice({
        error: true,
        text: `Stopped after ${number(sent)} of ${number(rows.length)} rows${line}: ${error.message}`,
      });
    } finally {
      setBusy(false);
      onChanged();
    }
  };
  return (
    <form class="inline-form" onSubmit={submit} noValidate aria-label="Import addresses">
      <h3>Import a CSV file</h3>
      <div class="field">
        <label for="import-file">CSV file</label>
        <input id="import-file" type="file" accept=".csv,text/csv,text/plain" aria-describedby="import-hint"
          onChange={(e) => setFile(e.currentTarget.files[0] || null)} />
        <p id="import-hint" class="hint">
          Rows of <code>address,label</code> (the label may be empty; an <code>address,label</code> header line is
          optional). Every row is checked first: nothing is sent if one is bad.
        </p>
      </div>
      <button type="submit" disabled={busy}>Import</button>
      {progress !== null && <ProgressBar label="Import progress" value={progress} />}
      <Notice notice={notice} />
    </form>
  );
}

export function AddressesSection({ monitor, onChanged }) {
  const [prefix, setPrefix] = useState("");
  const [search, setSearch] = useState("");
  const paging = usePaging();
  const [page, setPage] = useState(null);
  const [notice, setNotice] = useState(null);
  const [address, setAddress] = useState("");
  const [label, setLabel] = useState("");
  const [version, setVersion] = useState(0);
  const load = async () => {
    try {
      setPage(await api("GET", monitorPath(monitor.id, `/addresses${query({ prefix: search, limit: 50, cursor: paging.cursor })}`)));
    } catch (error) {
      setPage(null);
      setNotice(errorNotice(error));
    }
  };
  useEffect(() => {
    load();
  }, [search, paging.cursor, version]);
  const changed = () => {
    setVersion((v) => v + 1);
    onChanged();
  };
  const change = async (body, done) => {
    setNotice(null);
    try {
      const answer = await api("POST", monitorPath(monitor.id, "/addresses"), body);
      done(answer);
      changed();
    } catch (error) {
      setNotice(errorNotice(error));
    }
  };
  const add = (event) => {
    event.preventDefault();
    const item = label.trim() ? { address: address.trim(), label: label.trim() } : address.trim();
    change({ add: [item] }, (answer) => {
      setNotice({ text: answer.added ? `Added ${address.trim()}.` : `${address.trim()} was watched already (label updated).` });
      setAddress("");
      setLabel("");
    });
  };
  const remove = (item) => change({ remove: [item.address] }, () => setNotice({ text: `Removed ${item.address}.` }));
  return (
    <section class="panel" aria-labelledby="addresses-heading">
      <h2 id="addresses-heading">Addresses</h2>
      {monitor.filters.address_scope === "all" && (
        <p class="hint">This monitor watches every party of every event; a list of addresses applies once the
          monitor was created with one.</p>
      )}
      <form class="toolbar" role="search" aria-label="Search addresses" onSubmit={(e) => {
        e.preventDefault();
        setSearch(prefix.trim());
        paging.reset();
      }}>
        <label for="address-prefix">Address prefix</label>
        <input id="address-prefix" value={prefix} placeholder="0xab" spellcheck={false}
          onInput={(e) => setPrefix(e.currentTarget.value)} />
        <button type="submit">Search</button>
      </form>
      <Notice notice={notice} />
      {page && page.items.length === 0 && <p class="muted">No addresses{search ? ` starting with ${search}` : ""}.</p>}
      {page && page.items.length > 0 && (
        <div class="table-wrap">
          <table>
            <thead><tr><th scope="col">Address</th><th scope="col">Label</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead>
            <tbody>
              {page.items.map((item) => (
                <tr key={item.address}>
                  <td><code>{item.address}</code></td>
                  <td>{item.label || ""}</td>
                  <td><button type="button" class="small" aria-label={`Remove ${item.address}`} onClick={() => remove(item)}>Remove</button></td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {page && <Pager what="addresses" paging={paging} nextCursor={page.next_cursor} />}
      <form class="inline-form" onSubmit={add} noValidate aria-label="Add an address">
        <h3>Add an address</h3>
        <div class="field">
          <label for="add-address">Address</label>
          <input id="add-address" value={address} placeholder="0x…" spellcheck={false}
            onInput={(e) => setAddress(e.currentTarget.value)} />
        </div>
        <div class="field">
          <label for="add-label">Label</label>
          <input id="add-label" value={label} maxLength={200} onInput={(e) => setLabel(e.currentTarget.value)} />
        </div>
        <button type="submit" disabled={!address.trim()}>Add address</button>
      </form>
      <Import monitor={monitor} onChanged={changed} />
    </section>
  );
}
