import { useEffect, useState } from "preact/hooks";
import { api } from "./api.js";
import { BarChart } from "./charts.jsx";
import { Notice, errorNotice, formatTime, number, useInterval } from "./util.jsx";

const REFRESH_MS = 3000;

export function ChainsPage() {
  const [chains, setChains] = useState(null);
  const [notice, setNotice] = useState(null);
  const load = async () => {
    try {
      setChains((await api("GET", "chains")).items);
      setNotice(null);
    } catch (error) {
      setNotice(errorNotice(error));
    }
  };
  useEffect(() => {
    load();
  }, []);
  useInterval(load, REFRESH_MS);
  const lags = (chains || []).map((chain) => ({ lag: chain.lag_blocks }));
  return (
    <section>
      <h1>Chains</h1>
      <p class="hint">Refreshed every {REFRESH_MS / 1000} seconds.</p>
      <Notice notice={notice} />
      {chains && chains.length === 0 && <p class="muted">No chains are served.</p>}
      {chains && chains.length > 0 && (
        <>
          <div class="table-wrap">
            <table>
              <thead>
                <tr>
                  <th scope="col">Chain</th>
                  <th scope="col">Head</th>
                  <th scope="col">Last processed</th>
                  <th scope="col">Lag (blocks)</th>
                  <th scope="col">Safe</th>
                  <th scope="col">Finalized</th>
                  <th scope="col">Traces</th>
                  <th scope="col">Status</th>
                </tr>
              </thead>
              <tbody>
                {chains.map((chain) => (
                  <tr key={chain.chain_id}>
                    <th scope="row">{chain.chain_id}</th>
                    <td class="num">{number(chain.head)}</td>
                    <td class="num">{number(chain.last_processed)}</td>
                    <td class="num">{number(chain.lag_blocks)}</td>
                    <td class="num">{number(chain.safe)}</td>
                    <td class="num">{number(chain.finalized)}</td>
                    <td>{chain.traces === null ? "not known yet" : chain.traces ? "yes" : "no"}</td>
                    <td>
                      <span class={`badge ${chain.status}`}>{chain.status}</span>
                      {chain.head_moved_at ? <span class="muted"> head moved {formatTime(chain.head_moved_at)}</span> : null}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <BarChart title="Lag of each chain in blocks" unit=" blocks" rows={lags}
            labels={{ header: "Chain", short: chains.map((c) => String(c.chain_id)), values: chains.map((c) => `chain ${c.chain_id}`) }}
            summary={chains.map((c) => `chain ${c.chain_id} ${c.lag_blocks ?? "unknown"} blocks behind`).join(", ")}
            series={[{ key: "lag", name: "lag", cls: "neutral" }]} />
        </>
      )}
    </section>
  );
}
