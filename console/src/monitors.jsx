import { useEffect, useState } from "preact/hooks";
import { api, query } from "./api.js";
import { Notice, Pager, errorNotice, formatTime, navigate, number, usePaging } from "./util.jsx";

export function HealthBadge({ health }) {
  if (!health) return <span class="badge">–</span>;
  const failures = health.consecutive_failures;
  return (
    <span class={`badge ${health.status}`} title={health.last_failure || undefined}>
      {health.status}
      {failures > 0 ? ` (${failures} failed in a row)` : ""}
    </span>
  );
}

export function LastDelivery({ last }) {
  if (!last) return <span class="muted">none yet</span>;
  const code = last.last_status_code === null || last.last_status_code === undefined ? "" : ` · ${last.last_status_code}`;
  return (
    <span>
      <span class={`badge ${last.status}`}>{last.status}</span>
      {code} · {formatTime(last.created_at)}
    </span>
  );
}

export const addressCount = (monitor) =>
  monitor.filters.address_scope === "all" ? "every address" : number(monitor.address_count);

export function MonitorsPage() {
  const paging = usePaging();
  const [page, setPage] = useState(null);
  const [notice, setNotice] = useState(null);
  useEffect(() => {
    let live = true;
    api("GET", `monitors${query({ limit: 25, cursor: paging.cursor })}`)
      .then((answer) => live && setPage(answer))
      .catch((error) => live && setNotice(errorNotice(error)));
    return () => {
      live = false;
    };
  }, [paging.cursor]);
  return (
    <section>
      <div class="title-row">
        <h1>Monitors</h1>
        <button type="button" class="primary" onClick={() => navigate("#/monitors/new")}>New monitor</button>
      </div>
      <Notice notice={notice} />
      {page && page.items.length === 0 && !paging.hasPrevious && (
        <p>No monitors yet: create one with <strong>New monitor</strong>.</p>
      )}
      {page && page.items.length > 0 && (
        <div class="table-wrap">
          <table>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Health</th>
                <th scope="col">Chains</th>
                <th scope="col">Kinds</th>
                <th scope="col">Addresses</th>
                <th scope="col">Last delivery</th>
              </tr>
            </thead>
            <tbody>
              {page.items.map((monitor) => (
                <tr key={monitor.id}>
                  <td>
                    <a href={`#/monitors/${encodeURIComponent(monitor.id)}`}>{monitor.name}</a>
                    {!monitor.active && <span class="badge paused">paused</span>}
                  </td>
                  <td><HealthBadge health={monitor.health} /></td>
                  <td>{monitor.chain_ids.join(", ")}</td>
                  <td class="kinds">{monitor.filters.kinds.join(", ")}</td>
                  <td class="num">{addressCount(monitor)}</td>
                  <td><LastDelivery last={monitor.last_delivery} /></td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {page && <Pager what="monitors" paging={paging} nextCursor={page.next_cursor} />}
    </section>
  );
}
