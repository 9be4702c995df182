/** The catalog: instruments with their ranges and bar counts, and a candlestick view. */
import { useMemo, useState } from "react";
import { useNavigate, useParams } from "react-router-dom";
import { api, unwrapData } from "../api/client";
import type { Adjust, InstrumentStats } from "../api/models";
import { KlineChart } from "../components/ResultCharts";
import { Empty, ErrorBanner } from "../components/ui";
import { int, num } from "../lib/format";
import { useLoad } from "../lib/hooks";
import { shiftYears } from "../lib/runForm";

export function DataPage() {
  const { id } = useParams();
  const navigate = useNavigate();
  const [q, setQ] = useState("");
  const list = useLoad(() => unwrapData(api.GET("/api/data/instruments")), []);
  const rows = useMemo(() => {
    const needle = q.trim().toLowerCase();
    return (list.data?.instruments ?? []).filter(
      (i) => !needle || `${i.order_book_id} ${i.symbol} ${i.name}`.toLowerCase().includes(needle),
    );
  }, [list.data, q]);
  const selected = list.data?.instruments.find((i) => i.order_book_id === id) ?? null;

  return (
    <div className="page">
      <div className="page-head">
        <h1>Data</h1>
        <span className="subtle">
          {list.data ? `${list.data.total} instruments, daily bars` : ""}
        </span>
        <span className="grow" />
        <input
          className="search"
          type="search"
          placeholder="Search instruments…"
          value={q}
          onChange={(e) => setQ(e.target.value)}
          aria-label="search instruments"
        />
      </div>
      <ErrorBanner error={list.error} />
      <div className="data-page">
        <div className="panel">
          {list.data && list.data.total === 0 ? (
            <Empty title="The catalog is empty">
              <p>
                Import data with <code>quantdesk data import-demo</code> or{" "}
                <code>quantdesk data import</code>.
              </p>
            </Empty>
          ) : (
            <div className="table-wrap">
              <table className="grid" data-testid="instruments-table">
                <thead>
                  <tr>
                    <th>ID</th>
                    <th>Name</th>
                    <th>Market</th>
                    <th>Type</th>
                    <th>First bar</th>
                    <th>Last bar</th>
                    <th className="num">Bars</th>
                  </tr>
                </thead>
                <tbody>
                  {rows.map((i) => (
                    <tr
                      key={i.order_book_id}
                      className={`clickable${i.order_book_id === id ? " selected" : ""}`}
                      onClick={() => navigate(`/data/${encodeURIComponent(i.order_book_id)}`)}
                    >
                      <td className="id-link">{i.order_book_id}</td>
                      <td
                        style={{ maxWidth: 260, overflow: "hidden", textOverflow: "ellipsis" }}
                        title={i.name}
                      >
                        {i.name}
                      </td>
                      <td>
                        {i.market} <span className="subtle">{i.currency}</span>
                      </td>
                      <td>{i.type === "INDX" ? "index" : i.type === "CS" ? "stock" : i.type}</td>
                      <td>{i.first_bar ?? "—"}</td>
                      <td>{i.last_bar ?? "—"}</td>
                      <td className="num">{int(i.bar_count)}</td>
                    </tr>
                  ))}
                  {rows.length === 0 && list.data && (
                    <tr>
                      <td colSpan={7} className="subtle">
                        No instrument matches “{q}”.
                      </td>
                    </tr>
                  )}
                </tbody>
              </table>
            </div>
          )}
        </div>
        <div className="panel">
          {selected ? (
            <BarsView key={selected.order_book_id} instrument={selected} />
          ) : (
            <Empty title="Pick an instrument">
              <p>Click a row to see its daily candlesticks.</p>
            </Empty>
          )}
        </div>
      </div>
    </div>
  );
}

function BarsView({ instrument }: { instrument: InstrumentStats }) {
  const last = instrument.last_bar ?? "";
  const first = instrument.first_bar ?? "";
  const [start, setStart] = useState(() => {
    if (!last) return "";
    const twoYearsBack = shiftYears(last, -2);
    // biome-ignore lint/complexity/useMathMinMax: ISO date strings, compared as text; Math.max() would coerce them to numbers (NaN).
    return twoYearsBack < first ? first : twoYearsBack;
  });
  const [end, setEnd] = useState(last);
  const [adjust, setAdjust] = useState<Adjust>("none");
  const bars = useLoad(
    () =>
      unwrapData(
        api.GET("/api/data/instruments/{order_book_id}/bars", {
          params: {
            path: { order_book_id: instrument.order_book_id },
            query: { start: start || undefined, end: end || undefined, adjust },
          },
        }),
      ),
    [instrument.order_book_id, start, end, adjust],
  );
  const closes = bars.data?.close ?? [];
  const firstClose = closes[0];
  const lastClose = closes[closes.length - 1];
  const change = closes.length > 1 && firstClose && lastClose ? lastClose / firstClose - 1 : null;
  return (
    <div>
      <div className="panel-head wrap">
        <h2 className="mono">{instrument.order_book_id}</h2>
        <span className="subtle">{instrument.name}</span>
        <span className="grow" />
        <input
          type="date"
          value={start}
          min={first}
          max={end || last}
          onChange={(e) => setStart(e.target.value)}
          aria-label="from"
        />
        <span className="subtle">→</span>
        <input
          type="date"
          value={end}
          min={start || first}
          max={last}
          onChange={(e) => setEnd(e.target.value)}
          aria-label="to"
        />
        <select
          value={adjust}
          onChange={(e) => setAdjust(e.target.value === "pre" ? "pre" : "none")}
          aria-label="adjustment"
        >
          <option value="none">as traded</option>
          <option value="pre">forward-adjusted</option>
        </select>
      </div>
      <div className="panel-body">
        <ErrorBanner error={bars.error} />
        {bars.data && (
          <>
            <div className="row subtle" style={{ marginBottom: 6 }}>
              <span>{bars.data.dates.length} bars</span>
              {closes.length > 0 && <span>last close {num(closes[closes.length - 1])}</span>}
              {change !== null && (
                <span className={change >= 0 ? "up" : "down"}>
                  {(change * 100).toFixed(2)}% over the range
                </span>
              )}
            </div>
            {bars.data.dates.length ? (
              <KlineChart
                bars={bars.data}
                trades={[]}
                symbol={instrument.order_book_id}
                height={480}
              />
            ) : (
              <Empty title="No bars in this range" />
            )}
          </>
        )}
      </div>
    </div>
  );
}
