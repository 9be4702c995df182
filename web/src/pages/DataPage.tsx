/**
 * The catalog: instruments (searched and paged on the server) with their ranges, reference
 * data and a candlestick view with downloads; the import of CSV/Parquet files (admins:
 * preview, column mapping, report, commit); index membership over time (and its import); and
 * the data sources with their update jobs.
 */
import { useEffect, useState } from "react";
import { useNavigate, useParams, useSearchParams } from "react-router-dom";
import { getSession } from "../api/auth";
import { api, download, errorMessage, unwrapData } from "../api/client";
import type { Adjust, InstrumentStats } from "../api/models";
import { KlineChart } from "../components/ResultCharts";
import { Empty, ErrorBanner, Pager, Tabs } from "../components/ui";
import { int, num } from "../lib/format";
import { useLoad } from "../lib/hooks";
import { shiftYears } from "../lib/runForm";
import { BOARD_LABELS, isStOn, stPeriodText, stShort } from "../lib/upload";
import { ImportPanel } from "./data/ImportPanel";
import { IndexesPanel } from "./data/IndexesPanel";
import { Meta } from "./data/Meta";
import { SourcesPanel } from "./data/SourcesPanel";
import "./data.css";

type Tab = "instruments" | "import" | "indexes" | "sources";
const TABS: readonly Tab[] = ["instruments", "import", "indexes", "sources"];

export function DataPage() {
  const { id } = useParams();
  const navigate = useNavigate();
  const [params, setParams] = useSearchParams();
  const asked = params.get("tab");
  const tab: Tab = id ? "instruments" : (TABS.find((t) => t === asked) ?? "instruments");
  const isAdmin = getSession()?.isAdmin ?? false;
  // Bumped when an import or an update changed the catalog: the lists and charts reload.
  const [version, setVersion] = useState(0);
  // The Import, Indexes and Sources tabs stay mounted once opened (a report or a followed
  // update survives a look at the instruments).
  const [opened, setOpened] = useState<ReadonlySet<Tab>>(() => new Set([tab]));
  useEffect(() => {
    setOpened((prev) => (prev.has(tab) ? prev : new Set([...prev, tab])));
  }, [tab]);
  const count = useLoad(
    () => unwrapData(api.GET("/api/data/instruments", { params: { query: { limit: 1 } } })),
    [version],
  );

  const choose = (next: Tab) => {
    if (next === "instruments") navigate("/data");
    else if (id) navigate(`/data?tab=${next}`);
    else setParams({ tab: next });
  };

  return (
    <div className="page">
      <div className="page-head">
        <h1>Data</h1>
        <span className="subtle">
          {count.data ? `${int(count.data.total)} instruments, daily bars` : ""}
        </span>
      </div>
      <div className="data-tabs">
        <Tabs<Tab>
          value={tab}
          onChange={choose}
          tabs={[
            { id: "instruments", label: "Instruments" },
            { id: "import", label: "Import" },
            { id: "indexes", label: "Indexes" },
            { id: "sources", label: "Sources" },
          ]}
        />
      </div>
      {tab === "instruments" && <InstrumentsView id={id ?? null} version={version} />}
      {opened.has("import") && (
        <div hidden={tab !== "import"}>
          <ImportPanel
            isAdmin={isAdmin}
            onImported={() => setVersion((v) => v + 1)}
            onOpen={(oid) => navigate(`/data/${encodeURIComponent(oid)}`)}
          />
        </div>
      )}
      {opened.has("indexes") && (
        <div hidden={tab !== "indexes"}>
          <IndexesPanel
            isAdmin={isAdmin}
            version={version}
            onOpen={(oid) => navigate(`/data/${encodeURIComponent(oid)}`)}
            onSources={() => choose("sources")}
          />
        </div>
      )}
      {opened.has("sources") && (
        <div hidden={tab !== "sources"}>
          <SourcesPanel
            isAdmin={isAdmin}
            onUpdated={() => setVersion((v) => v + 1)}
            onOpen={(oid) => navigate(`/data/${encodeURIComponent(oid)}`)}
            onOpenIndex={(indexId) =>
              navigate(`/data?tab=indexes&index=${encodeURIComponent(indexId)}`)
            }
          />
        </div>
      )}
    </div>
  );
}

/** `value`, once it has not changed for `ms`. */
function useSettled<T>(value: T, ms: number): T {
  const [settled, setSettled] = useState(value);
  useEffect(() => {
    const timer = window.setTimeout(() => setSettled(value), ms);
    return () => window.clearTimeout(timer);
  }, [value, ms]);
  return settled;
}

const PAGE_SIZES = [10, 25, 50, 100, 200];
const TYPE_LABELS: Record<string, string> = { CS: "stock", INDX: "index", ETF: "ETF" };

function InstrumentsView({ id, version }: { id: string | null; version: number }) {
  const navigate = useNavigate();
  const [q, setQ] = useState("");
  const query = useSettled(q.trim(), 250);
  const [market, setMarket] = useState("");
  const [type, setType] = useState("");
  const [page, setPage] = useState(1);
  const [pageSize, setPageSize] = useState(50);
  // A new search starts on its first page.
  // biome-ignore lint/correctness/useExhaustiveDependencies: `query` is the trigger, not read.
  useEffect(() => setPage(1), [query]);
  const list = useLoad(
    () =>
      unwrapData(
        api.GET("/api/data/instruments", {
          params: {
            query: {
              q: query || undefined,
              market: market || undefined,
              type: type || undefined,
              limit: pageSize,
              offset: (page - 1) * pageSize,
            },
          },
        }),
      ),
    [query, market, type, page, pageSize, version],
  );
  const rows = list.data?.instruments ?? [];
  const inPage = id ? rows.find((i) => i.order_book_id === id) : undefined;
  // The selected instrument when the page shown does not hold it (a link, another page).
  const needLookup = !!id && !!list.data && !inPage;
  const lookup = useLoad(async () => {
    if (!needLookup || !id) return null;
    const found = await unwrapData(
      api.GET("/api/data/instruments", { params: { query: { q: id, limit: 200 } } }),
    );
    return found.instruments.find((i) => i.order_book_id === id) ?? null;
  }, [id, needLookup, version]);
  const selected = inPage ?? (needLookup ? lookup.data : null) ?? null;
  const filtered = !!(query || market || type);

  return (
    <>
      <ErrorBanner error={list.error} />
      <div className="data-page">
        <div className="panel instruments-panel">
          <div className="panel-head wrap">
            <input
              className="search"
              type="search"
              placeholder="Search id, symbol or name…"
              value={q}
              onChange={(e) => setQ(e.target.value)}
              aria-label="search instruments"
              data-testid="instrument-search"
            />
            <select
              value={market}
              onChange={(e) => {
                setMarket(e.target.value);
                setPage(1);
              }}
              aria-label="market"
            >
              <option value="">All markets</option>
              <option value="us">US</option>
              <option value="cn">China A-shares</option>
            </select>
            <select
              value={type}
              onChange={(e) => {
                setType(e.target.value);
                setPage(1);
              }}
              aria-label="type"
            >
              <option value="">All types</option>
              <option value="CS">Stocks</option>
              <option value="INDX">Indexes</option>
              <option value="ETF">ETFs</option>
            </select>
            <span className="grow" />
            {list.loading && <span className="subtle">loading…</span>}
          </div>
          {list.data && list.data.total === 0 && !filtered ? (
            <Empty title="The catalog is empty">
              <p>
                Import a file on the <strong>Import</strong> tab, update from a source, or run{" "}
                <code>quantdesk data import-demo</code>.
              </p>
            </Empty>
          ) : (
            <>
              <div className="table-wrap">
                <table className="grid compact" data-testid="instruments-table">
                  <thead>
                    <tr>
                      <th>ID</th>
                      <th>Name</th>
                      <th>Market</th>
                      <th>Type</th>
                      <th>Board</th>
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
                        <td className="name-cell" title={i.name}>
                          {i.name}
                        </td>
                        <td>
                          {i.market} <span className="subtle">{i.currency}</span>
                        </td>
                        <td>{TYPE_LABELS[i.type] ?? i.type}</td>
                        <td>
                          <BoardCell instrument={i} />
                        </td>
                        <td>{i.first_bar ?? "—"}</td>
                        <td>{i.last_bar ?? "—"}</td>
                        <td className="num">{int(i.bar_count)}</td>
                      </tr>
                    ))}
                    {rows.length === 0 && list.data && (
                      <tr>
                        <td colSpan={8} className="subtle">
                          No instrument matches{query ? ` “${query}”` : " these filters"}.
                        </td>
                      </tr>
                    )}
                  </tbody>
                </table>
              </div>
              {list.data && list.data.total > 0 && (
                <Pager
                  page={page}
                  pageSize={pageSize}
                  total={list.data.total}
                  onPage={setPage}
                  onPageSize={(size) => {
                    setPageSize(size);
                    setPage(1);
                  }}
                  sizes={PAGE_SIZES}
                />
              )}
            </>
          )}
        </div>
        <div className="panel">
          {selected ? (
            <BarsView key={`${selected.order_book_id}:${version}`} instrument={selected} />
          ) : id && list.data && !lookup.loading ? (
            <Empty title={`No instrument ${id}`}>
              <p>It is not in the catalog (any more).</p>
            </Empty>
          ) : (
            <Empty title="Pick an instrument">
              <p>Click a row to see its daily candlesticks and reference data.</p>
            </Empty>
          )}
        </div>
      </div>
    </>
  );
}

/** An A-share's board and ST status; "—" elsewhere. */
function BoardCell({ instrument: i }: { instrument: InstrumentStats }) {
  if (i.market !== "cn" || i.type === "INDX") return <span className="faint">—</span>;
  const periods = i.st_periods ?? [];
  const now = i.last_bar ? isStOn(periods, i.last_bar) : false;
  return (
    <span className="row board-cell">
      <span>{BOARD_LABELS[i.board_type] ?? i.board_type}</span>
      {periods.length > 0 && (
        <span
          className={`tag st-tag${now ? " now" : ""}`}
          title={`special treatment: ${periods.map(stPeriodText).join("; ")}`}
          data-testid="st-tag"
        >
          {stShort(periods)}
        </span>
      )}
    </span>
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
  const [downloadError, setDownloadError] = useState<string | null>(null);
  const [downloading, setDownloading] = useState<string | null>(null);
  const oid = instrument.order_book_id;
  const bars = useLoad(
    () =>
      unwrapData(
        api.GET("/api/data/instruments/{order_book_id}/bars", {
          params: {
            path: { order_book_id: oid },
            query: { start: start || undefined, end: end || undefined, adjust },
          },
        }),
      ),
    [oid, start, end, adjust],
  );
  const closes = bars.data?.close ?? [];
  const firstClose = closes[0];
  const lastClose = closes[closes.length - 1];
  const change = closes.length > 1 && firstClose && lastClose ? lastClose / firstClose - 1 : null;
  const cn = instrument.market === "cn";
  const periods = instrument.st_periods ?? [];

  const save = async (format: "csv" | "parquet") => {
    const query = new URLSearchParams({ format, adjust });
    if (start) query.set("start", start);
    if (end) query.set("end", end);
    setDownloading(format);
    setDownloadError(null);
    try {
      await download(
        `/api/data/instruments/${encodeURIComponent(oid)}/bars/download?${query}`,
        `${oid}-${adjust}.${format}`,
      );
    } catch (exc) {
      setDownloadError(`Download failed: ${errorMessage(exc)}`);
    } finally {
      setDownloading(null);
    }
  };

  return (
    <div data-testid="instrument-detail">
      <div className="panel-head wrap">
        <h2 className="mono">{oid}</h2>
        <span className="subtle head-name" title={instrument.name}>
          {instrument.name}
        </span>
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
      <div className="instrument-meta">
        <Meta label="Exchange" value={instrument.exchange} />
        <Meta label="Lot" value={int(instrument.lot_size)} />
        {cn && instrument.type !== "INDX" && (
          <Meta
            label="Board"
            value={BOARD_LABELS[instrument.board_type] ?? instrument.board_type}
          />
        )}
        <Meta label="Listed" value={instrument.listed_date ?? "—"} />
        {instrument.delisted_date && <Meta label="Delisted" value={instrument.delisted_date} />}
        {cn && instrument.type !== "INDX" && (
          <Meta
            label="ST"
            value={periods.length ? periods.map(stPeriodText).join("; ") : "never"}
            testId="st-periods"
            warn={periods.length > 0}
          />
        )}
        <span className="grow" />
        <span className="subtle small-label">Download</span>
        <button
          type="button"
          className="small"
          disabled={downloading !== null}
          onClick={() => void save("csv")}
          data-testid="download-csv"
          title="the bars of the range shown, as CSV"
        >
          {downloading === "csv" ? "…" : "⤓"} CSV
        </button>
        <button
          type="button"
          className="small"
          disabled={downloading !== null}
          onClick={() => void save("parquet")}
          data-testid="download-parquet"
          title="the bars of the range shown, as Parquet"
        >
          {downloading === "parquet" ? "…" : "⤓"} Parquet
        </button>
      </div>
      <div className="panel-body">
        <ErrorBanner error={downloadError} onClose={() => setDownloadError(null)} />
        <ErrorBanner error={bars.error} />
        {bars.data && (
          <>
            <div className="row subtle" style={{ marginBottom: 6 }}>
              <span>{int(bars.data.dates.length)} bars</span>
              {closes.length > 0 && <span>last close {num(closes[closes.length - 1])}</span>}
              {change !== null && (
                <span className={change >= 0 ? "up" : "down"}>
                  {(change * 100).toFixed(2)}% over the range
                </span>
              )}
            </div>
            {bars.data.dates.length ? (
              <KlineChart bars={bars.data} trades={[]} symbol={oid} height={480} />
            ) : (
              <Empty title="No bars in this range" />
            )}
          </>
        )}
      </div>
    </div>
  );
}
