/** The result's round-trip trades (symbol filter, sortable columns, trade statistics) and its
 * period tables (monthly and yearly returns, the worst drawdowns). */
import { useMemo, useState } from "react";
import { api, type Schemas, unwrapData } from "../api/client";
import { int, isNum, num, pct } from "../lib/format";
import { useLoad } from "../lib/hooks";
import { MONTHS, monthlyGrid, returnColor } from "../lib/periods";
import {
  columnHint,
  columnLabel,
  nextSort,
  type SortDir,
  shortDateTime,
  sortRows,
} from "../lib/tables";
import { Empty, ErrorBanner, Pager } from "./ui";

type RoundTrip = Schemas["RoundTrip"];

/** The largest page the round-trips route serves: the tab sorts one such page in the browser. */
const TRIP_PAGE = 1000;

/** `v` to `digits` decimals, without a minus sign on a figure that rounds to zero. */
const fixed = (v: number, digits: number) => {
  const text = v.toFixed(digits);
  return Number(text) === 0 ? (0).toFixed(digits) : text;
};

const signed = (v: unknown) => (isNum(v) && v !== 0 ? (v > 0 ? "up" : "down") : "");

interface TripColumn {
  key: string;
  numeric: boolean;
  /** The direction of a first click: dates oldest first, figures largest first. */
  first: SortDir;
  render: (t: RoundTrip, dateOnly: boolean) => string;
  cls?: (t: RoundTrip) => string;
}

const when = (v: string, dateOnly: boolean) => (dateOnly ? v.slice(0, 10) : shortDateTime(v));

const TRIP_COLUMNS: TripColumn[] = [
  { key: "order_book_id", numeric: false, first: "asc", render: (t) => t.order_book_id },
  {
    key: "direction",
    numeric: false,
    first: "asc",
    render: (t) => t.direction,
    cls: (t) => (t.direction === "SHORT" ? "down" : "up"),
  },
  {
    key: "entry_datetime",
    numeric: false,
    first: "asc",
    render: (t, d) => when(t.entry_datetime, d),
  },
  { key: "entry_price", numeric: true, first: "desc", render: (t) => num(t.entry_price, 2) },
  {
    key: "exit_datetime",
    numeric: false,
    first: "asc",
    render: (t, d) => when(t.exit_datetime, d),
  },
  { key: "exit_price", numeric: true, first: "desc", render: (t) => num(t.exit_price, 2) },
  { key: "quantity", numeric: true, first: "desc", render: (t) => int(t.quantity) },
  {
    key: "pnl",
    numeric: true,
    first: "desc",
    render: (t) => num(t.pnl, 2),
    cls: (t) => signed(t.pnl),
  },
  {
    key: "return",
    numeric: true,
    first: "desc",
    render: (t) => pct(t.return),
    cls: (t) => signed(t.return),
  },
  { key: "costs", numeric: true, first: "desc", render: (t) => num(t.costs, 2) },
  { key: "holding_sessions", numeric: true, first: "desc", render: (t) => int(t.holding_sessions) },
  { key: "mae", numeric: true, first: "asc", render: (t) => pct(t.mae), cls: (t) => signed(t.mae) },
  {
    key: "mfe",
    numeric: true,
    first: "desc",
    render: (t) => pct(t.mfe),
    cls: (t) => signed(t.mfe),
  },
];

export function RoundTripsTab({
  jobId,
  symbols,
  summary,
}: {
  jobId: string;
  symbols: string[];
  summary: Record<string, unknown>;
}) {
  const [symbol, setSymbol] = useState("");
  const [page, setPage] = useState(1);
  const [sort, setSort] = useState<{ key: string; dir: SortDir }>({
    key: "entry_datetime",
    dir: "asc",
  });
  const data = useLoad(
    () =>
      unwrapData(
        api.GET("/api/backtest/jobs/{job_id}/round-trips", {
          params: {
            path: { job_id: jobId },
            query: { page, page_size: TRIP_PAGE, symbol: symbol || undefined },
          },
        }),
      ),
    [jobId, page, symbol],
  );
  const trips = data.data?.round_trips;
  const rows = useMemo(() => sortRows(trips ?? [], sort.key, sort.dir), [trips, sort]);
  // A daily run's fills all happen at the session close: its table shows dates only.
  const dateOnly = useMemo(() => {
    const times = new Set<string>();
    for (const t of trips ?? []) {
      times.add(t.entry_datetime.slice(11));
      times.add(t.exit_datetime.slice(11));
    }
    return times.size <= 1;
  }, [trips]);
  const total = data.data?.total ?? 0;
  const wins = (trips ?? []).filter((t) => t.pnl > 0).length;
  const pnl = (trips ?? []).reduce((a, t) => a + t.pnl, 0);

  return (
    <div data-testid="round-trips">
      <TripStats summary={summary} />
      <div className="row" style={{ margin: "12px 0 8px" }}>
        <label className="row subtle">
          Symbol
          <select
            value={symbol}
            onChange={(e) => {
              setSymbol(e.target.value);
              setPage(1);
            }}
            data-testid="round-trip-symbol"
          >
            <option value="">All symbols</option>
            {symbols.map((s) => (
              <option key={s}>{s}</option>
            ))}
          </select>
        </label>
        <span className="hint">
          Fills paired first in, first out per instrument (a partial close splits the lot).
        </span>
        <span className="grow" />
        {trips && (
          <span className="subtle" data-testid="round-trip-count">
            {int(total)} round trips
            {trips.length ? (
              <>
                {" "}
                · {wins} won · P&amp;L <span className={signed(pnl)}>{num(pnl, 2)}</span>
                {total > trips.length ? " (this page)" : ""}
              </>
            ) : null}
          </span>
        )}
      </div>
      <ErrorBanner error={data.error} />
      {!trips ? (
        !data.error && <div className="loading">Loading round trips…</div>
      ) : total === 0 ? (
        <Empty title={symbol ? `No round trip in ${symbol}` : "No round trip"}>
          <p>
            A round trip is a position opened and closed again: this run closed none
            {symbol ? " in this symbol" : ""}.
          </p>
        </Empty>
      ) : (
        <>
          <div className="table-wrap" style={{ maxHeight: 560 }}>
            <table className="grid compact" data-testid="round-trips-table">
              <thead>
                <tr>
                  {TRIP_COLUMNS.map((c) => (
                    <th
                      key={c.key}
                      className={`sortable${c.numeric ? " num" : ""}`}
                      title={columnHint(c.key)}
                      aria-sort={
                        sort.key === c.key
                          ? sort.dir === "asc"
                            ? "ascending"
                            : "descending"
                          : "none"
                      }
                      onClick={() => setSort(nextSort(sort, c.key, c.first))}
                    >
                      {columnLabel(c.key)}
                      <span className="sort-mark">
                        {sort.key === c.key ? (sort.dir === "asc" ? " ▲" : " ▼") : ""}
                      </span>
                    </th>
                  ))}
                </tr>
              </thead>
              <tbody>
                {rows.map((t) => (
                  <tr
                    key={`${t.order_book_id}|${t.entry_datetime}|${t.exit_datetime}|${t.entry_order_id ?? ""}|${t.exit_order_id ?? ""}|${t.quantity}`}
                  >
                    {TRIP_COLUMNS.map((c) => (
                      <td
                        key={c.key}
                        className={`${c.numeric ? "num" : ""} ${c.cls?.(t) ?? ""}`}
                        title={
                          c.key.endsWith("_datetime")
                            ? String((t as Record<string, unknown>)[c.key]).replace("T", " ")
                            : c.key === "holding_sessions" && isNum(t.holding_days)
                              ? `${int(t.holding_days)} calendar days`
                              : undefined
                        }
                      >
                        {c.render(t, dateOnly)}
                      </td>
                    ))}
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          {total > TRIP_PAGE && (
            <Pager page={page} pageSize={TRIP_PAGE} total={total} onPage={setPage} />
          )}
        </>
      )}
    </div>
  );
}

/** The run's statistics over its round trips (the result summary: every symbol). */
function TripStats({ summary: s }: { summary: Record<string, unknown> }) {
  const stats: [string, string, string?, string?][] = [
    ["Round trips", int(s.round_trips)],
    ["Win rate", pct(s.win_rate, 1), "", "share of round trips with P&L > 0, net of costs"],
    ["Profit factor", num(s.profit_factor, 2), "", "gross profit / gross loss"],
    [
      "Expectancy",
      num(s.expectancy, 2),
      signed(s.expectancy),
      `mean P&L per round trip (${pct(s.expectancy_return)} of the entry value)`,
    ],
    ["Avg win", num(s.avg_win, 2), "up"],
    ["Avg loss", num(s.avg_loss, 2), "down"],
    ["Best", num(s.best_trade, 2), signed(s.best_trade)],
    ["Worst", num(s.worst_trade, 2), signed(s.worst_trade)],
    [
      "Avg held",
      isNum(s.avg_holding_sessions) ? `${num(s.avg_holding_sessions, 1)} sessions` : "—",
    ],
    [
      "Streaks",
      `${int(s.max_consecutive_wins)} W / ${int(s.max_consecutive_losses)} L`,
      "",
      "most wins and losses in a row",
    ],
    ["SQN", num(s.sqn, 2), "", "system quality number: √n × mean P&L / std P&L"],
    ["Exposure", pct(s.exposure_time, 1), "", "share of sessions with a position held"],
  ];
  return (
    <div className="stat-strip" data-testid="trip-stats">
      {stats.map(([label, value, cls, hint]) => (
        <div key={label} className="stat" title={hint}>
          <div className="label">{label}</div>
          <div className={`value ${cls ?? ""}`}>{value}</div>
        </div>
      ))}
    </div>
  );
}

export function PeriodsTab({ jobId }: { jobId: string }) {
  const data = useLoad(
    () =>
      unwrapData(
        api.GET("/api/backtest/jobs/{job_id}/analysis", { params: { path: { job_id: jobId } } }),
      ),
    [jobId],
  );
  if (data.error) return <ErrorBanner error={data.error} />;
  const a = data.data;
  if (!a) return <div className="loading">Loading the period tables…</div>;
  const grid = monthlyGrid(a.monthly, a.yearly);
  const hasBenchmark = a.yearly.some((y) => y.benchmark_returns !== null);
  return (
    <div className="periods" data-testid="periods">
      <h3 className="section-title">Monthly returns</h3>
      {grid.length === 0 ? (
        <p className="hint">No complete session in the run.</p>
      ) : (
        <div className="table-wrap">
          <table className="grid compact heat" data-testid="monthly-table">
            <thead>
              <tr>
                <th>Year</th>
                {MONTHS.map((m) => (
                  <th key={m} className="num">
                    {m}
                  </th>
                ))}
                <th className="num">Year</th>
              </tr>
            </thead>
            <tbody>
              {grid.map((r) => (
                <tr key={r.year}>
                  <td className="mono">{r.year}</td>
                  {r.months.map((v, i) => (
                    <td key={MONTHS[i]} className="num mono" style={{ background: returnColor(v) }}>
                      {isNum(v) ? fixed(v * 100, 1) : ""}
                    </td>
                  ))}
                  <td className="num mono strong" style={{ background: returnColor(r.total, 0.3) }}>
                    {isNum(r.total) ? `${fixed(r.total * 100, 1)}%` : ""}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <div className="period-cols">
        <div>
          <h3 className="section-title">Yearly returns</h3>
          <table className="grid compact">
            <thead>
              <tr>
                <th>Year</th>
                <th className="num">Strategy</th>
                {hasBenchmark && <th className="num">Benchmark</th>}
                {hasBenchmark && <th className="num">Excess</th>}
              </tr>
            </thead>
            <tbody>
              {a.yearly.map((y) => (
                <tr key={y.year}>
                  <td className="mono">{y.year}</td>
                  <td className={`num ${signed(y.returns)}`}>{pct(y.returns)}</td>
                  {hasBenchmark && (
                    <td className={`num ${signed(y.benchmark_returns)}`}>
                      {pct(y.benchmark_returns)}
                    </td>
                  )}
                  {hasBenchmark && (
                    <td className="num">
                      {isNum(y.returns) && isNum(y.benchmark_returns)
                        ? pct(y.returns - y.benchmark_returns)
                        : "—"}
                    </td>
                  )}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
        <div>
          <h3 className="section-title">Worst drawdowns</h3>
          {a.drawdowns.length === 0 ? (
            <p className="hint">The run never fell below a previous high.</p>
          ) : (
            <table className="grid compact" data-testid="drawdowns-table">
              <thead>
                <tr>
                  <th className="num">Depth</th>
                  <th>Peak</th>
                  <th>Trough</th>
                  <th>Recovered</th>
                  <th className="num" title="sessions from the peak to the recovery (or the end)">
                    Sessions
                  </th>
                  <th className="num" title="calendar days of the same span">
                    Days
                  </th>
                </tr>
              </thead>
              <tbody>
                {a.drawdowns.map((d) => (
                  <tr key={d.start}>
                    <td className="num down">{pct(-d.depth)}</td>
                    <td className="mono">{d.start}</td>
                    <td className="mono">{d.trough}</td>
                    <td className="mono">{d.end ?? <span className="warn">not yet</span>}</td>
                    <td className="num">{int(d.length)}</td>
                    <td className="num">{int(d.days)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </div>
      </div>
      {Object.keys(a.conventions).length > 0 && (
        <p className="hint" style={{ marginTop: 12 }}>
          {Object.entries(a.conventions)
            .filter(([k]) => k !== "rolling")
            .map(([k, v]) => `${columnLabel(k)}: ${v}`)
            .join(" · ")}
        </p>
      )}
    </div>
  );
}
