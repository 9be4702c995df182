/**
 * Index membership over time (`/api/data/indexes`): the indexes with stored compositions; an
 * index's members on a day (with weights, and those the catalog lacks), its changes from one
 * composition to the next and its members' stays; and, for admins, the import of a membership
 * file (`POST /api/data/indexes/import`: Preview, then Import, with the report).
 */
import { type DragEvent, useEffect, useRef, useState } from "react";
import { useSearchParams } from "react-router-dom";
import { api, type Schemas, unwrapData } from "../../api/client";
import { Empty, ErrorBanner } from "../../components/ui";
import { bytes, int } from "../../lib/format";
import { useLoad } from "../../lib/hooks";
import {
  DEFAULT_INDEX_OPTIONS,
  fewIds,
  fewIdsText,
  INDEX_COLUMN_HINTS,
  INDEX_COLUMNS,
  type IndexChange,
  type IndexColumn,
  type IndexImportFailure,
  type IndexImportOptions,
  type IndexMapping,
  type IndexSummary,
  type IndexUploadResult,
  indexImportFailure,
  indexImportFormData,
  indexMappingJson,
  indexMappingOf,
  indexOptionProblems,
  isIsoDay,
  lineText,
  membersOf,
  neighbourDates,
  plural,
  refusalReason,
  sortMembers,
  summarizeIndexReport,
  todayIso,
  weightText,
  weightTotal,
} from "../../lib/indexes";
import { csvHeader, isParquet } from "../../lib/upload";

export function IndexesPanel({
  isAdmin,
  version,
  onOpen,
  onSources,
}: {
  isAdmin: boolean;
  /** Bumped when the catalog changed (an import, an update): the lists reload. */
  version: number;
  onOpen: (orderBookId: string) => void;
  onSources: () => void;
}) {
  const [params, setParams] = useSearchParams();
  const asked = params.get("index");
  // Bumped by a membership import here.
  const [rev, setRev] = useState(0);
  const list = useLoad(() => unwrapData(api.GET("/api/data/indexes")), [version, rev]);
  const [selected, setSelected] = useState<string | null>(asked);
  // A link to an index (`?tab=indexes&index=…`) selects it, also once the panel is open.
  useEffect(() => {
    if (asked) setSelected(asked);
  }, [asked]);
  const indexes = list.data?.indexes ?? [];
  const empty = !!list.data && indexes.length === 0;
  const summary = indexes.find((i) => i.index_id === selected) ?? null;

  const select = (indexId: string) => {
    setSelected(indexId);
    setParams({ tab: "indexes", index: indexId }, { replace: true });
  };

  return (
    <>
      <div className="panel" data-testid="indexes">
        <div className="panel-head">
          <h2>Indexes</h2>
          <span className="subtle">which instruments an index held, day by day</span>
          <span className="grow" />
          {list.loading && <span className="subtle">loading…</span>}
        </div>
        <ErrorBanner error={list.error} />
        <div className="table-wrap">
          <table className="grid indexes-table" data-testid="indexes-table">
            <thead>
              <tr>
                <th>Index</th>
                <th>Name</th>
                <th title="its first composition: nothing is known before">From</th>
                <th title="its latest composition, in effect since">Latest</th>
                <th className="num">Compositions</th>
                <th className="num" title="members of the latest composition">
                  Members
                </th>
                <th title="the latest composition has weights">Weights</th>
                <th>Sources</th>
              </tr>
            </thead>
            <tbody>
              {indexes.map((i) => (
                <tr
                  key={i.index_id}
                  className={`clickable${i.index_id === selected ? " selected" : ""}`}
                  onClick={() => select(i.index_id)}
                  data-testid={`index-${i.index_id}`}
                  aria-selected={i.index_id === selected}
                >
                  <td className="id-link">{i.index_id}</td>
                  <td className="name-cell" title={i.name ?? undefined}>
                    {i.name ?? <span className="faint">—</span>}
                  </td>
                  <td>{i.first_date}</td>
                  <td>{i.last_date}</td>
                  <td className="num">{int(i.compositions)}</td>
                  <td className="num">{int(i.members)}</td>
                  <td>{i.weights ? "yes" : <span className="faint">no</span>}</td>
                  <td>
                    <div className="tag-list">
                      {i.sources.map((s) => (
                        <span key={s} className="tag">
                          {s}
                        </span>
                      ))}
                    </div>
                  </td>
                </tr>
              ))}
              {!list.data && !list.error && (
                <tr>
                  <td colSpan={8} className="subtle">
                    Loading the indexes…
                  </td>
                </tr>
              )}
              {empty && (
                <tr>
                  <td colSpan={8} className="subtle">
                    No index membership yet.
                  </td>
                </tr>
              )}
            </tbody>
          </table>
        </div>
      </div>

      <div className={`indexes-layout${isAdmin ? " with-import" : ""}`}>
        <div className="panel index-detail-panel">
          {summary ? (
            <IndexDetail
              key={summary.index_id}
              summary={summary}
              version={version + rev}
              onOpen={onOpen}
            />
          ) : empty ? (
            <HowTo isAdmin={isAdmin} onSources={onSources} />
          ) : selected && list.data ? (
            <Empty title={`No membership of ${selected}`}>
              <p>The catalog holds no composition of this index.</p>
            </Empty>
          ) : (
            <Empty title="Pick an index">
              <p>
                Click an index to see its members on a day, and who joined or left at each
                composition.
              </p>
            </Empty>
          )}
        </div>
        {isAdmin && (
          <IndexImport
            onImported={() => setRev((r) => r + 1)}
            onShow={select}
            known={new Set(indexes.map((i) => i.index_id))}
          />
        )}
      </div>
    </>
  );
}

/** Where membership comes from (the list is empty). */
function HowTo({ isAdmin, onSources }: { isAdmin: boolean; onSources: () => void }) {
  return (
    <div className="index-howto" data-testid="indexes-empty">
      <Empty title="No index membership yet">
        <p>
          Membership says which instruments an index held on each day, so that a backtest reads an
          index's members as they were then.
        </p>
        <ul className="howto-list">
          <li>
            <span className="strong">Upload a file</span>
            {isAdmin ? " with the form on the right" : " (admins)"}: compositions{" "}
            <code>index_id, date, order_book_id[, weight]</code>, such as Tushare's{" "}
            <code>index_weight</code> export as it is, or members' stays{" "}
            <code>index_id, order_book_id, start_date[, end_date]</code>.
          </li>
          <li>
            <span className="strong">Update from a source</span>: baostock (CSI 300, SSE 50, CSI
            500) or akshare (any index) on the Sources tab, with index ids
            {isAdmin ? "" : " (admins)"}.
          </li>
        </ul>
        <button type="button" onClick={onSources}>
          Sources…
        </button>
      </Empty>
    </div>
  );
}

/** Changes listed before "show all". */
const CHANGES_SHOWN = 12;
/** Ids of a change's added or removed members shown before "+N more". */
const IDS_SHOWN = 4;

function IndexDetail({
  summary,
  version,
  onOpen,
}: {
  summary: IndexSummary;
  version: number;
  onOpen: (orderBookId: string) => void;
}) {
  const id = summary.index_id;
  const [date, setDate] = useState(todayIso);
  const [filter, setFilter] = useState("");
  const [sortBy, setSortBy] = useState<"id" | "weight">("id");
  const [allChanges, setAllChanges] = useState(false);
  const [showSpells, setShowSpells] = useState(false);
  const valid = isIsoDay(date);
  const early = valid && date < summary.first_date;
  const components = useLoad(async () => {
    if (!valid || early) return null;
    return unwrapData(
      api.GET("/api/data/indexes/{index_id}/components", {
        params: { path: { index_id: id }, query: { date } },
      }),
    );
  }, [id, date, valid, early, version]);
  const changes = useLoad(
    () =>
      unwrapData(
        api.GET("/api/data/indexes/{index_id}/changes", { params: { path: { index_id: id } } }),
      ),
    [id, version],
  );
  const comp = components.data;
  const members = comp ? membersOf(comp) : [];
  const shownMembers = sortMembers(members, sortBy, filter);
  const total = weightTotal(comp?.weights);
  const history = [...(changes.data?.changes ?? [])].reverse(); // newest first
  const dates = history.map((c) => c.date);
  const near = neighbourDates(dates, comp?.effective_date);
  const firstDate = dates.at(-1) ?? null;
  const changesShown = allChanges ? history : history.slice(0, CHANGES_SHOWN);

  return (
    <div data-testid="index-detail">
      <div className="panel-head wrap">
        <h2 className="mono">{id}</h2>
        {summary.name && (
          <span className="subtle head-name" title={summary.name}>
            {summary.name}
          </span>
        )}
        <span className="grow" />
        <div className="row index-date-controls">
          <input
            type="date"
            value={date}
            min={summary.first_date}
            onChange={(e) => setDate(e.target.value)}
            aria-label="members on"
            title="the members on this day: the composition in effect then"
            data-testid="index-date"
            className={date && !valid ? "invalid" : undefined}
          />
          <div className="row index-nav">
            <button
              type="button"
              className="small"
              disabled={!near.previous}
              onClick={() => near.previous && setDate(near.previous)}
              title={
                near.previous ? `the composition of ${near.previous}` : "no earlier composition"
              }
              aria-label="previous composition"
            >
              ‹
            </button>
            <button
              type="button"
              className="small"
              disabled={!near.next}
              onClick={() => near.next && setDate(near.next)}
              title={near.next ? `the composition of ${near.next}` : "no later composition"}
              aria-label="next composition"
            >
              ›
            </button>
            <button
              type="button"
              className="small"
              onClick={() => setDate(todayIso())}
              title="the composition in effect today"
            >
              Today
            </button>
          </div>
        </div>
      </div>
      <div className="instrument-meta" data-testid="index-meta">
        <Meta
          label="In effect since"
          value={comp?.effective_date ?? "—"}
          testId="index-effective"
        />
        <Meta label="Source" value={comp?.source ?? "—"} />
        <Meta label="Members" value={comp ? int(comp.order_book_ids.length) : "—"} />
        <Meta
          label="Weights"
          value={comp ? (total === null ? "none" : `${total.toFixed(2)}% in all`) : "—"}
        />
        {comp && comp.not_in_catalog.length > 0 && (
          <Meta label="Not in catalog" value={int(comp.not_in_catalog.length)} warn />
        )}
      </div>
      <div className="panel-body index-body">
        <ErrorBanner error={components.error} />
        {!valid ? (
          <p className="subtle">Pick a day to see its members.</p>
        ) : early ? (
          <div className="verdict info" role="status" data-testid="index-before-first">
            <span className="verdict-icon" aria-hidden="true">
              i
            </span>
            <div className="grow">
              No composition of {id} is known on {date}: its membership starts on{" "}
              <button
                type="button"
                className="link-button"
                onClick={() => setDate(summary.first_date)}
              >
                {summary.first_date}
              </button>
              .
            </div>
          </div>
        ) : comp ? (
          <>
            {comp.not_in_catalog.length > 0 && (
              <div className="missing-members" data-testid="not-in-catalog">
                <span className="tag missing-tag">not in catalog</span>
                <span className="grow">
                  {plural(comp.not_in_catalog.length, "member")} without bars: a backtest cannot
                  trade {comp.not_in_catalog.length === 1 ? "it" : "them"}.{" "}
                  <span className="mono">{fewIdsText(comp.not_in_catalog, 8)}</span>
                </span>
              </div>
            )}
            <div className="row members-head">
              <h3 className="report-title">
                Members on {comp.date}{" "}
                <span className="subtle">({int(comp.order_book_ids.length)})</span>
              </h3>
              <span className="grow" />
              {members.length > 12 && (
                <input
                  type="search"
                  className="member-filter"
                  placeholder="Filter members…"
                  value={filter}
                  onChange={(e) => setFilter(e.target.value)}
                  aria-label="filter members"
                />
              )}
              {comp.weights && (
                <select
                  value={sortBy}
                  onChange={(e) => setSortBy(e.target.value === "weight" ? "weight" : "id")}
                  aria-label="sort members"
                >
                  <option value="id">by id</option>
                  <option value="weight">by weight</option>
                </select>
              )}
            </div>
            <ul className="member-grid" aria-label="members" data-testid="index-members">
              {shownMembers.map((m) => (
                <li
                  key={m.order_book_id}
                  className={m.inCatalog ? undefined : "missing"}
                  title={m.inCatalog ? undefined : "not in the catalog: no bars"}
                  data-member={m.order_book_id}
                >
                  {m.inCatalog ? (
                    <button
                      type="button"
                      className="link-button"
                      onClick={() => onOpen(m.order_book_id)}
                      title={`open ${m.order_book_id}`}
                    >
                      <span className="mono">{m.order_book_id}</span>
                    </button>
                  ) : (
                    <span className="mono">
                      {m.order_book_id}
                      <span className="missing-mark" aria-hidden="true">
                        ∅
                      </span>
                    </span>
                  )}
                  {m.weight !== null && (
                    <span className="member-weight">{weightText(m.weight)}</span>
                  )}
                </li>
              ))}
              {shownMembers.length === 0 && (
                <li className="subtle">
                  {members.length ? `No member matches “${filter.trim()}”.` : "No member."}
                </li>
              )}
            </ul>
          </>
        ) : (
          !components.error && <div className="loading subtle">Loading the members…</div>
        )}

        <h3 className="report-title">
          Changes{" "}
          <span className="subtle">
            {changes.data ? `(${plural(history.length, "composition")})` : ""}
          </span>
        </h3>
        <ErrorBanner error={changes.error} />
        {history.length > 0 && (
          <>
            <div className="table-wrap report-table">
              <table className="grid compact changes-table" data-testid="index-changes">
                <thead>
                  <tr>
                    <th>Date</th>
                    <th className="num">Members</th>
                    <th>Joined</th>
                    <th>Left</th>
                    <th>Source</th>
                  </tr>
                </thead>
                <tbody>
                  {changesShown.map((c) => (
                    <ChangeRow
                      key={c.date}
                      change={c}
                      first={c.date === firstDate}
                      current={c.date === comp?.effective_date}
                      onPick={() => setDate(c.date)}
                    />
                  ))}
                </tbody>
              </table>
            </div>
            {history.length > CHANGES_SHOWN && (
              <button
                type="button"
                className="ghost small"
                onClick={() => setAllChanges(!allChanges)}
              >
                {allChanges ? "Show fewer" : `Show all ${int(history.length)}`}
              </button>
            )}
          </>
        )}

        <div className="row spells-head">
          <h3 className="report-title grow">Stays</h3>
          <button
            type="button"
            className="ghost small"
            onClick={() => setShowSpells(!showSpells)}
            aria-expanded={showSpells}
            data-testid="toggle-spells"
          >
            {showSpells ? "Hide" : "Show each member's stays"}
          </button>
        </div>
        {showSpells && <Spells indexId={id} version={version} filter={filter} onPick={setDate} />}
      </div>
    </div>
  );
}

function ChangeRow({
  change: c,
  first,
  current,
  onPick,
}: {
  change: IndexChange;
  first: boolean;
  current: boolean;
  onPick: () => void;
}) {
  const none = c.added.length === 0 && c.removed.length === 0;
  return (
    <tr
      className={`clickable${current ? " selected" : ""}`}
      onClick={onPick}
      title={`show the members on ${c.date}`}
      data-date={c.date}
    >
      <td className="mono">{c.date}</td>
      <td className="num">{int(c.members)}</td>
      {first && c.removed.length === 0 ? (
        <td colSpan={2} className="subtle">
          first composition
        </td>
      ) : none ? (
        <td colSpan={2} className="faint">
          no change in members
        </td>
      ) : (
        <>
          <td className="ids-cell">
            <IdList ids={c.added} tone="up" sign="+" />
          </td>
          <td className="ids-cell">
            <IdList ids={c.removed} tone="down" sign="−" />
          </td>
        </>
      )}
      <td className="subtle">{c.source}</td>
    </tr>
  );
}

function IdList({ ids, tone, sign }: { ids: string[]; tone: "up" | "down"; sign: string }) {
  if (ids.length === 0) return <span className="faint">—</span>;
  const { shown, more } = fewIds(ids, IDS_SHOWN);
  return (
    <span className="id-list" title={ids.join(", ")}>
      <span className={`strong ${tone}`}>
        {sign}
        {int(ids.length)}
      </span>{" "}
      <span className="mono">{shown.join(", ")}</span>
      {more > 0 && <span className="subtle"> +{int(more)} more</span>}
    </span>
  );
}

/** Stays shown before "show all". */
const SPELLS_SHOWN = 100;

function Spells({
  indexId,
  version,
  filter,
  onPick,
}: {
  indexId: string;
  version: number;
  filter: string;
  onPick: (date: string) => void;
}) {
  const spells = useLoad(
    () =>
      unwrapData(
        api.GET("/api/data/indexes/{index_id}/spells", {
          params: { path: { index_id: indexId } },
        }),
      ),
    [indexId, version],
  );
  const [all, setAll] = useState(false);
  const needle = filter.trim().toUpperCase();
  const rows = (spells.data?.spells ?? []).filter(
    (s) => !needle || s.order_book_id.toUpperCase().includes(needle),
  );
  const shown = all ? rows : rows.slice(0, SPELLS_SHOWN);
  if (spells.error) return <ErrorBanner error={spells.error} />;
  if (!spells.data) return <div className="loading subtle">Loading the stays…</div>;
  return (
    <>
      <div className="table-wrap report-table spells-table">
        <table className="grid compact" data-testid="index-spells">
          <thead>
            <tr>
              <th>Member</th>
              <th>From</th>
              <th>To</th>
            </tr>
          </thead>
          <tbody>
            {shown.map((s) => (
              <tr key={`${s.order_book_id}:${s.start}`}>
                <td className="mono">{s.order_book_id}</td>
                <td>
                  <button type="button" className="link-button" onClick={() => onPick(s.start)}>
                    {s.start}
                  </button>
                </td>
                <td>{s.end ?? <span className="subtle">still in</span>}</td>
              </tr>
            ))}
            {rows.length === 0 && (
              <tr>
                <td colSpan={3} className="subtle">
                  {needle ? `No stay of a member matching “${filter.trim()}”.` : "No stay."}
                </td>
              </tr>
            )}
          </tbody>
        </table>
      </div>
      {rows.length > SPELLS_SHOWN && (
        <button type="button" className="ghost small" onClick={() => setAll(!all)}>
          {all ? "Show fewer" : `Show all ${int(rows.length)}`}
        </button>
      )}
    </>
  );
}

function Meta({
  label,
  value,
  testId,
  warn,
}: {
  label: string;
  value: string;
  testId?: string;
  warn?: boolean;
}) {
  return (
    <span className="meta-item" data-testid={testId}>
      <span className="meta-label">{label}</span>
      <span className={warn ? "warn" : undefined}>{value}</span>
    </span>
  );
}

/** What the last Preview or Import gave, and for which form. */
interface IndexOutcome {
  kind: "preview" | "import";
  report: IndexUploadResult | null;
  failure: IndexImportFailure | null;
  /** The form it was for: the report is stale once the form changed. */
  key: string;
}

/** Bytes read off a CSV file for its header line. */
const HEAD_BYTES = 64 * 1024;

function IndexImport({
  onImported,
  onShow,
  known,
}: {
  onImported: () => void;
  onShow: (indexId: string) => void;
  /** The indexes listed (a report links those). */
  known: ReadonlySet<string>;
}) {
  const [file, setFile] = useState<File | null>(null);
  const [parquet, setParquet] = useState(false);
  const [localColumns, setLocalColumns] = useState<string[]>([]);
  const [serverColumns, setServerColumns] = useState<string[] | null>(null);
  const [options, setOptions] = useState<IndexImportOptions>(DEFAULT_INDEX_OPTIONS);
  const [mapping, setMapping] = useState<IndexMapping>({});
  const [mappingTouched, setMappingTouched] = useState(false);
  const [showMapping, setShowMapping] = useState(false);
  const [busy, setBusy] = useState<"preview" | "import" | null>(null);
  const [outcome, setOutcome] = useState<IndexOutcome | null>(null);
  const [dragging, setDragging] = useState(false);
  const picks = useRef(0);

  const columns = serverColumns ?? localColumns;
  const problems = indexOptionProblems(options);
  const keyOf = (m: IndexMapping) =>
    JSON.stringify([file?.name, file?.size, file?.lastModified, options, indexMappingJson(m)]);
  const stale = outcome !== null && outcome.key !== keyOf(mapping);

  const pick = async (chosen: File) => {
    const mine = ++picks.current;
    setFile(chosen);
    setOutcome(null);
    setServerColumns(null);
    setMapping({});
    setMappingTouched(false);
    setShowMapping(false);
    setLocalColumns([]);
    setParquet(false);
    try {
      const head = new Uint8Array(await chosen.slice(0, HEAD_BYTES).arrayBuffer());
      if (mine !== picks.current) return; // another file was chosen meanwhile
      if (isParquet(head)) setParquet(true);
      else setLocalColumns(csvHeader(new TextDecoder().decode(head)));
    } catch {
      /* the server reads it anyway */
    }
  };

  const submit = async (dryRun: boolean) => {
    if (!file) return;
    const kind = dryRun ? "preview" : "import";
    const mine = picks.current;
    setBusy(kind);
    const form = indexImportFormData(file, file.name, options, mapping, dryRun);
    let sent = mapping;
    try {
      const report = await unwrapData(
        api.POST("/api/data/indexes/import", {
          // The body is multipart: openapi-fetch passes a FormData through as it is (the
          // schema types the file field as a string).
          body: form as unknown as Schemas["Body_import_index"],
        }),
      );
      if (report.committed) onImported();
      if (mine !== picks.current) return;
      setServerColumns(report.columns);
      if (!mappingTouched) {
        sent = indexMappingOf(report.mapping);
        setMapping(sent);
      }
      setOutcome({ kind, report, failure: null, key: keyOf(sent) });
    } catch (exc) {
      if (mine !== picks.current) return;
      const failure = indexImportFailure(exc);
      if (failure.columns) setServerColumns(failure.columns);
      if (failure.report && !mappingTouched) {
        sent = indexMappingOf(failure.report.mapping);
        setMapping(sent);
      }
      if (failure.missing.length) setShowMapping(true);
      setOutcome({ kind, report: failure.report, failure, key: keyOf(sent) });
    } finally {
      setBusy(null);
    }
  };

  const set = <K extends keyof IndexImportOptions>(key: K, value: IndexImportOptions[K]) =>
    setOptions((prev) => ({ ...prev, [key]: value }));

  const onDrop = (e: DragEvent<HTMLElement>) => {
    e.preventDefault();
    setDragging(false);
    const dropped = e.dataTransfer.files[0];
    if (dropped) void pick(dropped);
  };

  const blocked = !file || busy !== null || Object.keys(problems).length > 0;
  const missing = new Set<IndexColumn>(outcome?.failure?.missing ?? []);

  return (
    <div className="index-import">
      <div className="panel" data-testid="index-import-form">
        <div className="panel-head">
          <h2>Import membership</h2>
          <span className="subtle">admins</span>
        </div>
        <div className="panel-body import-form">
          <label
            className={`dropzone${dragging ? " over" : ""}${file ? " has-file" : ""}`}
            onDragOver={(e) => {
              e.preventDefault();
              setDragging(true);
            }}
            onDragLeave={() => setDragging(false)}
            onDrop={onDrop}
          >
            <input
              type="file"
              accept=".csv,.txt,.tsv,.parquet,.pq,text/csv"
              aria-label="membership file"
              onChange={(e) => {
                const chosen = e.target.files?.[0];
                if (chosen) void pick(chosen);
                e.target.value = "";
              }}
              data-testid="index-import-file"
            />
            {file ? (
              <span className="dropzone-file">
                <span className="file-icon" aria-hidden="true">
                  {parquet ? "PQ" : "CSV"}
                </span>
                <span className="grow">
                  <span className="strong file-name" data-testid="index-import-file-name">
                    {file.name}
                  </span>
                  <span className="hint">
                    {bytes(file.size)}
                    {localColumns.length > 0 && ` · ${localColumns.length} columns`}
                    {" · click or drop to replace"}
                  </span>
                </span>
              </span>
            ) : (
              <span className="dropzone-empty">
                <span className="strong">Choose a membership file</span>
                <span className="hint">or drop it here · CSV or Parquet</span>
              </span>
            )}
          </label>
          <p className="hint">
            Compositions: <code>index_id, date, order_book_id[, weight]</code> (Tushare's{" "}
            <code>index_code, con_code, trade_date, weight</code> too); or stays:{" "}
            <code>index_id, order_book_id, start_date[, end_date]</code>. A composition replaces a
            stored one of the same index and date.
          </p>

          <div className="form-grid">
            <label className="field">
              <span>Index id</span>
              <input
                name="index_id"
                value={options.indexId}
                placeholder="no column: 000300.XSHG"
                title="the index of a file without an index_id column"
                className={problems.indexId ? "invalid" : undefined}
                onChange={(e) => set("indexId", e.target.value)}
              />
              {problems.indexId && <span className="field-error">{problems.indexId}</span>}
            </label>
            <label className="field">
              <span>Date</span>
              <input
                type="date"
                name="date"
                value={options.date}
                title="the date of a file of one composition without a date column"
                className={problems.date ? "invalid" : undefined}
                onChange={(e) => set("date", e.target.value)}
              />
              {problems.date && <span className="field-error">{problems.date}</span>}
            </label>
          </div>
          <p className="hint">
            For a file of one composition without these columns; blank otherwise.
          </p>

          <label className="check-row">
            <input
              type="checkbox"
              name="strict"
              checked={options.strict}
              onChange={(e) => set("strict", e.target.checked)}
            />
            <span>
              <span className="strong">Strict</span>
              <span className="hint block">
                {options.strict
                  ? "Any invalid row refuses the whole file; nothing changes."
                  : "Valid rows are imported; invalid ones are skipped and reported."}
              </span>
            </span>
          </label>

          {showMapping && file && (
            <div className="index-mapping" data-testid="index-mapping">
              <div className="row">
                <span className="strong grow">Column mapping</span>
                <button
                  type="button"
                  className="ghost small"
                  onClick={() => setShowMapping(false)}
                  aria-label="hide mapping"
                >
                  ✕
                </button>
              </div>
              <p className="hint">
                Which of the file's columns holds each one; blank: by its usual names.
              </p>
              <div className="mapping-grid">
                {INDEX_COLUMNS.map((c) => (
                  <div key={c} className="mapping-row">
                    <span className="mapping-target" title={INDEX_COLUMN_HINTS[c]}>
                      <span className="mono">{c}</span>
                      <span className="hint">{INDEX_COLUMN_HINTS[c]}</span>
                    </span>
                    <span className="mapping-arrow" aria-hidden="true">
                      ←
                    </span>
                    {columns.length ? (
                      <select
                        name={`map-${c}`}
                        aria-label={`file column for ${c}`}
                        value={mapping[c] ?? ""}
                        className={missing.has(c) && !mapping[c] ? "invalid" : undefined}
                        onChange={(e) => {
                          setMapping((prev) => ({ ...prev, [c]: e.target.value }));
                          setMappingTouched(true);
                        }}
                      >
                        <option value="">— by name —</option>
                        {columns.map((col) => (
                          <option key={col} value={col}>
                            {col}
                          </option>
                        ))}
                      </select>
                    ) : (
                      <input
                        name={`map-${c}`}
                        aria-label={`file column for ${c}`}
                        value={mapping[c] ?? ""}
                        placeholder="by name"
                        className={missing.has(c) && !mapping[c] ? "invalid" : undefined}
                        onChange={(e) => {
                          setMapping((prev) => ({ ...prev, [c]: e.target.value }));
                          setMappingTouched(true);
                        }}
                      />
                    )}
                  </div>
                ))}
              </div>
            </div>
          )}

          <div className="import-actions">
            <button
              type="button"
              disabled={blocked}
              onClick={() => void submit(true)}
              data-testid="index-import-preview"
              title="validate and report; nothing is written"
            >
              {busy === "preview" ? "Checking…" : "Preview"}
            </button>
            <button
              type="button"
              className="primary"
              disabled={blocked}
              onClick={() => void submit(false)}
              data-testid="index-import-commit"
              title="validate and write the compositions to the catalog"
            >
              {busy === "import" ? "Importing…" : "Import"}
            </button>
            <span className="grow" />
            {file && !showMapping && (
              <button
                type="button"
                className="ghost small"
                onClick={() => setShowMapping(true)}
                data-testid="index-show-mapping"
              >
                Map columns…
              </button>
            )}
          </div>
        </div>
      </div>

      {outcome && (
        <IndexImportReport
          outcome={outcome}
          stale={stale}
          busy={busy !== null}
          known={known}
          onShow={onShow}
        />
      )}
    </div>
  );
}

/** Rejected lines shown before "show all". */
const REJECTED_SHOWN = 50;

function IndexImportReport({
  outcome,
  stale,
  busy,
  known,
  onShow,
}: {
  outcome: IndexOutcome;
  stale: boolean;
  busy: boolean;
  known: ReadonlySet<string>;
  onShow: (indexId: string) => void;
}) {
  const { report, failure, kind } = outcome;
  const title = kind === "preview" ? "Preview" : "Import";
  return (
    <section
      className={`panel import-report${busy ? " busy" : ""}`}
      data-testid="index-import-report"
      aria-label="membership import report"
    >
      <div className="panel-head">
        <h2>{`${title} report`}</h2>
        {report && (
          <span className="subtle">
            {report.format.toUpperCase()} · {report.columns.length} columns
          </span>
        )}
        <span className="grow" />
        {stale && (
          <span className="tag stale-tag" title="the file, fields or mapping changed since">
            out of date
          </span>
        )}
      </div>
      <div className="panel-body">
        {failure && !report && (
          <div className="error-banner" role="alert" data-testid="index-import-error">
            <div className="grow">
              <strong>{kind === "preview" ? "Preview failed" : "Import failed"}</strong>
              <div className="banner-message">{failure.message}</div>
              {failure.missing.length > 0 && (
                <div className="banner-help">
                  Map the file's columns (Column mapping, above), or give the index id and date of a
                  one-composition file, then Preview again.
                </div>
              )}
            </div>
            <span className="code">
              {failure.status ? `HTTP ${failure.status} · ` : ""}
              {failure.code}
            </span>
          </div>
        )}
        {report && <IndexReportBody report={report} known={known} onShow={onShow} />}
      </div>
    </section>
  );
}

function IndexReportBody({
  report,
  known,
  onShow,
}: {
  report: IndexUploadResult;
  known: ReadonlySet<string>;
  onShow: (indexId: string) => void;
}) {
  const s = summarizeIndexReport(report);
  const tone = report.committed
    ? "ok"
    : s.verdict === "refused"
      ? "error"
      : s.verdict === "partial"
        ? "warn"
        : "info";
  const [all, setAll] = useState(false);
  const shown = all ? report.rejected : report.rejected.slice(0, REJECTED_SHOWN);
  const applied = Object.entries(report.mapping).filter(([ours, theirs]) => ours !== theirs);
  const linkable = report.committed ? report.indexes.filter((i) => known.has(i.index_id)) : [];
  return (
    <>
      <div
        className={`verdict ${tone}`}
        role={tone === "error" ? "alert" : "status"}
        data-testid="index-import-verdict"
      >
        <span className="verdict-icon" aria-hidden="true">
          {tone === "ok" ? "✓" : tone === "error" ? "✕" : tone === "warn" ? "!" : "i"}
        </span>
        <div className="grow">
          <div className="strong">{s.headline}</div>
          {report.refused && (
            <div className="verdict-sub" data-testid="index-import-refused">
              {refusalReason(report.refused)}
            </div>
          )}
          {!report.committed && s.verdict !== "refused" && (
            <div className="verdict-sub">Import writes these compositions to the catalog.</div>
          )}
          {linkable.length > 0 && (
            <div className="verdict-links">
              {linkable.slice(0, 6).map((i) => (
                <button
                  key={i.index_id}
                  type="button"
                  className="small"
                  onClick={() => onShow(i.index_id)}
                >
                  Show {i.index_id} →
                </button>
              ))}
            </div>
          )}
        </div>
      </div>

      <div className="stat-strip index-report-strip" data-testid="index-import-figures">
        <Stat label="Layout" value={report.layout} testId="index-import-layout" />
        <Stat label="Rows in file" value={int(s.rowsIn)} />
        <Stat
          label={report.committed ? "Imported" : "Accepted"}
          value={int(s.accepted)}
          tone={s.accepted && !report.refused ? "up" : undefined}
          testId="index-rows-accepted"
        />
        <Stat
          label="Rejected"
          value={int(s.rejected)}
          tone={s.rejected ? "down" : undefined}
          testId="index-rows-rejected"
        />
      </div>
      {applied.length > 0 && (
        <p className="hint mapping-applied">
          Columns: {applied.map(([ours, theirs]) => `${theirs} → ${ours}`).join(", ")}
        </p>
      )}

      {report.indexes.length > 0 && (
        <>
          <h3 className="report-title">
            {report.refused ? "Indexes of the valid rows" : "Indexes"}{" "}
            <span className="subtle">({int(report.indexes.length)})</span>
          </h3>
          <div className="table-wrap report-table">
            <table className="grid compact" data-testid="index-import-indexes">
              <thead>
                <tr>
                  <th>Index</th>
                  <th title="compositions in the file: new to the catalog, replacing a stored one of the same date">
                    Compositions
                  </th>
                  <th>Dates</th>
                  <th className="num" title="members of the latest composition in the file">
                    Members
                  </th>
                </tr>
              </thead>
              <tbody>
                {report.indexes.map((i) => (
                  <tr key={i.index_id}>
                    <td className="mono">{i.index_id}</td>
                    <td>
                      <div className="cell-stack">
                        <span className="strong">{int(i.compositions)}</span>
                        <span className="cell-sub">
                          <span className={i.added && !report.refused ? "up" : undefined}>
                            {int(i.added)} new
                          </span>
                          {" · "}
                          <span className={i.replaced && !report.refused ? "warn" : undefined}>
                            {int(i.replaced)} replaced
                          </span>
                        </span>
                      </div>
                    </td>
                    <td>
                      <div className="cell-stack">
                        <span>{i.first}</span>
                        {i.last !== i.first && <span className="cell-sub">→ {i.last}</span>}
                      </div>
                    </td>
                    <td className="num">{int(i.members_latest)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </>
      )}

      {report.rejected.length > 0 && (
        <>
          <h3 className="report-title">
            Rejected rows{" "}
            <span className="subtle">
              {s.rejected > report.rejected.length
                ? `(first ${int(report.rejected.length)} of ${int(s.rejected)})`
                : `(${int(s.rejected)})`}
            </span>
          </h3>
          <div className="table-wrap report-table rejected-table">
            <table className="grid compact" data-testid="index-import-rejected">
              <thead>
                <tr>
                  <th>Line</th>
                  <th>Reason</th>
                </tr>
              </thead>
              <tbody>
                {shown.map((r, n) => (
                  // biome-ignore lint/suspicious/noArrayIndexKey: rules across rows share line 0; the list is read-only.
                  <tr key={n}>
                    <td className="mono">{lineText(r.line)}</td>
                    <td className="reason-cell">{r.reason}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          {report.rejected.length > REJECTED_SHOWN && (
            <button type="button" className="ghost small" onClick={() => setAll(!all)}>
              {all ? "Show fewer" : `Show all ${int(report.rejected.length)}`}
            </button>
          )}
        </>
      )}
    </>
  );
}

function Stat({
  label,
  value,
  tone,
  testId,
}: {
  label: string;
  value: string;
  tone?: "up" | "down";
  testId?: string;
}) {
  return (
    <div className="stat">
      <div className="label">{label}</div>
      <div className={`value${tone ? ` ${tone}` : ""}`} data-testid={testId}>
        {value}
      </div>
    </div>
  );
}
