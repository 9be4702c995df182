/**
 * Index membership over time (`/api/data/indexes`): the indexes with stored compositions, the
 * one picked (`?index=…`, shown by `IndexDetail`) and, for admins, the import of a membership
 * file (`IndexImport`).
 */
import { useEffect, useState } from "react";
import { useSearchParams } from "react-router-dom";
import { api, unwrapData } from "../../api/client";
import { Empty, ErrorBanner } from "../../components/ui";
import { int } from "../../lib/format";
import { useLoad } from "../../lib/hooks";
import { IndexDetail } from "./IndexDetail";
import { IndexImport } from "./IndexImport";

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
