/** An index's members' stays: who was in it from when to when (`/api/data/indexes/…/spells`). */
import { useState } from "react";
import { api, unwrapData } from "../../api/client";
import { ErrorBanner, ShowAllToggle } from "../../components/ui";
import { useLoad } from "../../lib/hooks";
import { spellsMatching } from "../../lib/indexes";

/** Stays shown before "show all". */
const SPELLS_SHOWN = 100;

export function IndexStays({
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
  const rows = spellsMatching(spells.data?.spells ?? [], filter);
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
                  {filter.trim() ? `No stay of a member matching “${filter.trim()}”.` : "No stay."}
                </td>
              </tr>
            )}
          </tbody>
        </table>
      </div>
      <ShowAllToggle total={rows.length} shown={SPELLS_SHOWN} all={all} onToggle={setAll} />
    </>
  );
}
