import { useEffect, useState } from "preact/hooks";
import { api, monitorPath } from "./api.js";
import { formatHour, number, useInterval } from "./util.jsx";

const W = 640;
const H = 180;
const LEFT = 44;
const RIGHT = 8;
const TOP = 10;
const BOTTOM = 22;
const PLOT_W = W - LEFT - RIGHT;
const PLOT_H = H - TOP - BOTTOM;

// A round top for the y axis: 1, 2, 5, 10, 20, 50, ...
function niceMax(value) {
  if (value <= 0) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  return [1, 2, 5, 10].map((step) => step * power).find((top) => top >= value);
}

function Legend({ series }) {
  return (
    <ul class="legend" aria-hidden="true">
      {series.map((s) => <li key={s.key}><span class={`swatch ${s.cls}`} />{s.name}</li>)}
    </ul>
  );
}

function Axes({ top, labels }) {
  const every = Math.max(1, Math.ceil(labels.length / 8));
  const step = PLOT_W / Math.max(1, labels.length);
  return (
    <g class="axes">
      <line x1={LEFT} y1={TOP + PLOT_H} x2={W - RIGHT} y2={TOP + PLOT_H} />
      <line x1={LEFT} y1={TOP} x2={LEFT} y2={TOP + PLOT_H} />
      <line class="grid" x1={LEFT} y1={TOP + PLOT_H / 2} x2={W - RIGHT} y2={TOP + PLOT_H / 2} />
      <text x={LEFT - 4} y={TOP + 8} text-anchor="end">{number(top)}</text>
      <text x={LEFT - 4} y={TOP + PLOT_H / 2 + 4} text-anchor="end">{number(top / 2)}</text>
      <text x={LEFT - 4} y={TOP + PLOT_H} text-anchor="end">0</text>
      {labels.map((label, i) => (i % every === 0 ? (
        <text key={i} x={LEFT + step * i + step / 2} y={H - 6} text-anchor="middle">{label}</text>
      ) : null))}
    </g>
  );
}

// The chart's numbers as a table, for screen readers and for anyone who wants them.
function Numbers({ caption, labels, series, rows }) {
  return (
    <details class="numbers">
      <summary>{caption}: the numbers</summary>
      <div class="table-wrap">
        <table>
          <thead>
            <tr><th scope="col">{labels.header}</th>{series.map((s) => <th key={s.key} scope="col">{s.name}</th>)}</tr>
          </thead>
          <tbody>
            {rows.map((row, i) => (
              <tr key={i}>
                <th scope="row">{labels.values[i]}</th>
                {series.map((s) => <td key={s.key} class="num">{row[s.key] ?? "–"}</td>)}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </details>
  );
}

// Bars per item: `stack` piles the series, otherwise each is drawn from zero over the one before.
export function BarChart({ title, summary, labels, rows, series, stack, unit = "" }) {
  const totals = rows.map((row) => (stack ? series.reduce((sum, s) => sum + (row[s.key] || 0), 0)
    : Math.max(...series.map((s) => row[s.key] || 0))));
  const top = niceMax(Math.max(0, ...totals));
  const step = PLOT_W / Math.max(1, rows.length);
  const width = Math.max(1, step * 0.75);
  const y = (value) => (value / top) * PLOT_H;
  return (
    <Chart title={title} summary={summary} top={top} labels={labels} rows={rows} series={series}>
      {rows.map((row, i) => {
        let base = 0;
        const x = LEFT + step * i + (step - width) / 2;
        return (
          <g key={i}>
            {series.map((s) => {
              const value = row[s.key] || 0;
              const from = stack ? base : 0;
              if (stack) base += value;
              if (!value) return null;
              return (
                <rect key={s.key} class={s.cls} x={x} width={width}
                  y={TOP + PLOT_H - y(from + value)} height={Math.max(1, y(value))}>
                  <title>{`${labels.values[i]}: ${number(value)}${unit} ${s.name}`}</title>
                </rect>
              );
            })}
          </g>
        );
      })}
    </Chart>
  );
}

// Lines over the hours; an hour without a value breaks its line.
export function LineChart({ title, summary, labels, rows, series, unit = "" }) {
  const values = rows.flatMap((row) => series.map((s) => row[s.key]).filter((v) => v !== null && v !== undefined));
  const top = niceMax(Math.max(0, ...values));
  const step = PLOT_W / Math.max(1, rows.length);
  const point = (i, value) => [LEFT + step * i + step / 2, TOP + PLOT_H - (value / top) * PLOT_H];
  return (
    <Chart title={title} summary={summary} top={top} labels={labels} rows={rows} series={series}>
      {series.map((s) => {
        const runs = [[]];
        rows.forEach((row, i) => {
          const value = row[s.key];
          if (value === null || value === undefined) runs.push([]);
          else runs[runs.length - 1].push(point(i, value));
        });
        return (
          <g key={s.key} class={`line ${s.cls}`}>
            {runs.filter((run) => run.length > 1).map((run, i) => (
              <polyline key={i} points={run.map((p) => p.join(",")).join(" ")} />
            ))}
            {rows.map((row, i) => (row[s.key] === null || row[s.key] === undefined ? null : (
              <circle key={i} cx={point(i, row[s.key])[0]} cy={point(i, row[s.key])[1]} r="2.5">
                <title>{`${labels.values[i]}: ${s.name} ${number(row[s.key])}${unit}`}</title>
              </circle>
            )))}
          </g>
        );
      })}
    </Chart>
  );
}

// A chart's frame: its caption and legend, the picture with its axes (named for screen readers by its
// title and summary), and its numbers as a table.
function Chart({ title, summary, top, labels, rows, series, children }) {
  return (
    <figure class="chart">
      <figcaption>{title}</figcaption>
      <Legend series={series} />
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label={`${title}: ${summary}`} preserveAspectRatio="xMidYMid meet">
        <Axes top={top} labels={labels.short} />
        {children}
      </svg>
      <Numbers caption={title} labels={{ header: labels.header, values: labels.values }} series={series} rows={rows} />
    </figure>
  );
}

const sum = (hours, key) => hours.reduce((total, hour) => total + (hour[key] || 0), 0);

export function StatsSection({ monitorId, version }) {
  const [stats, setStats] = useState(null);
  const [error, setError] = useState(null);
  const load = async () => {
    try {
      setStats(await api("GET", monitorPath(monitorId, "/stats?hours=24")));
      setError(null);
    } catch (failure) {
      setError(failure.message);
    }
  };
  useEffect(() => {
    load();
  }, [monitorId, version]);
  useInterval(load, 30000);
  const hours = stats ? stats.hours : [];
  const labels = {
    header: "Hour",
    short: hours.map((h) => formatHour(h.hour)),
    values: hours.map((h) => formatHour(h.hour)),
  };
  const latency = hours.map((h) => ({ p50: h.latency_ms?.p50 ?? null, p90: h.latency_ms?.p90 ?? null, p99: h.latency_ms?.p99 ?? null }));
  const overall = stats && stats.latency_ms;
  return (
    <section class="panel" aria-labelledby="stats-heading">
      <h2 id="stats-heading">Last 24 hours</h2>
      {error && <p class="notice error" role="alert">Statistics are not available: {error}</p>}
      {stats && (
        <div class="charts">
          <BarChart title="Deliveries per hour" stack labels={labels} rows={hours}
            summary={`${number(sum(hours, "delivered"))} delivered and ${number(sum(hours, "failed"))} failed in the last ${hours.length} hours`}
            series={[{ key: "delivered", name: "delivered", cls: "ok" }, { key: "failed", name: "failed", cls: "bad" }]} />
          <LineChart title="Delivery latency (ms)" unit=" ms" labels={labels} rows={latency}
            summary={overall
              ? `over ${number(overall.count)} deliveries: p50 ${number(overall.p50)} ms, p90 ${number(overall.p90)} ms, p99 ${number(overall.p99)} ms`
              : "no delivery delivered in this window"}
            series={[{ key: "p50", name: "p50", cls: "p50" }, { key: "p90", name: "p90", cls: "p90" }, { key: "p99", name: "p99", cls: "p99" }]} />
          <BarChart title="Endpoint health: attempts per hour" labels={labels} rows={hours}
            summary={`${number(sum(hours, "attempts"))} attempts, ${number(sum(hours, "failed_attempts"))} of them failed`}
            series={[{ key: "attempts", name: "attempts", cls: "neutral" }, { key: "failed_attempts", name: "failed attempts", cls: "bad" }]} />
        </div>
      )}
    </section>
  );
}
