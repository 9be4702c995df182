/**
 * One index's membership: the members on a day (the date picker steps from composition to
 * composition), with weights and those the catalog lacks; its changes from one composition to
 * the next; and its members' stays (`IndexStays`).
 */
import { useState } from "react";
import { api, unwrapData } from "../../api/client";
import { ErrorBanner, ShowAllToggle } from "../../components/ui";
import { int } from "../../lib/format";
import { useLoad } from "../../lib/hooks";
import {
  fewIds,
  fewIdsText,
  type IndexChange,
  type IndexSummary,
  isIsoDay,
  membersOf,
  neighbourDates,
  plural,
  sortMembers,
  todayIso,
  weightText,
  weightTotal,
} from "../../lib/indexes";
import { IndexStays } from "./IndexStays";
import { Meta } from "./Meta";

/** Changes listed before "show all". */
const CHANGES_SHOWN = 12;
/** Ids of a change's added or removed members shown before "+N more". */
const IDS_SHOWN = 4;

export function IndexDetail({
  summary,
  version,
  onOpen,
}: {
  summary: IndexSummary;
  version: number;
  onOpen: (orderBookId: string) => void;
}) {
  const id = summary.index_id;
  const [date, setDate] = useState(() => todayIso(id));
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
              onClick={() => setDate(todayIso(id))}
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
            <ShowAllToggle
              total={history.length}
              shown={CHANGES_SHOWN}
              all={allChanges}
              onToggle={setAllChanges}
            />
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
        {showSpells && (
          <IndexStays indexId={id} version={version} filter={filter} onPick={setDate} />
        )}
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
