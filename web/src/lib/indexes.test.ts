import { describe, expect, it } from "vitest";
import { ApiError } from "../api/client";
import {
  DEFAULT_INDEX_OPTIONS,
  fewIds,
  fewIdsText,
  givesIndexes,
  type IndexComponents,
  type IndexUploadResult,
  importedIndexesListed,
  indexesLacking,
  indexImportFailure,
  indexImportFormData,
  indexImportKey,
  indexMappingJson,
  indexMappingOf,
  indexOptionProblems,
  indexPlaceholder,
  isIsoDay,
  lineText,
  membersOf,
  neighbourDates,
  refusalReason,
  renamedColumnsText,
  sortMembers,
  spellsMatching,
  summarizeIndexReport,
  todayIso,
  updateReportIndexes,
  weightText,
  weightTotal,
} from "./indexes";

function report(over: Partial<IndexUploadResult> = {}): IndexUploadResult {
  return {
    format: "csv",
    columns: ["index_code", "con_code", "trade_date", "weight"],
    mapping: { index_id: "index_code", order_book_id: "con_code", date: "trade_date" },
    layout: "compositions",
    dry_run: true,
    committed: false,
    refused: null,
    rows_in: 5,
    rows_accepted: 5,
    rejected_total: 0,
    rejected: [],
    indexes: [
      {
        index_id: "000300.XSHG",
        compositions: 2,
        added: 2,
        replaced: 0,
        first: "2024-01-02",
        last: "2024-06-03",
        members_latest: 3,
      },
    ],
    ...over,
  };
}

function components(over: Partial<IndexComponents> = {}): IndexComponents {
  return {
    index_id: "000300.XSHG",
    date: "2024-03-01",
    effective_date: "2024-01-02",
    source: "upload",
    order_book_ids: ["000001.XSHE", "600000.XSHG", "600519.XSHG"],
    weights: [1.5, 2.25, 6],
    not_in_catalog: ["600519.XSHG"],
    ...over,
  };
}

describe("the import form", () => {
  it("sends the file, the given fields, the mapping, strict and dry_run", () => {
    const file = new Blob(["index_code,con_code,trade_date\n"], { type: "text/csv" });
    const form = indexImportFormData(
      file,
      "hs300.csv",
      { indexId: " 000300.XSHG ", date: "2024-01-02", strict: false },
      { order_book_id: "con", weight: " " },
      true,
    );
    expect((form.get("file") as File).name).toBe("hs300.csv");
    expect(form.get("index_id")).toBe("000300.XSHG");
    expect(form.get("date")).toBe("2024-01-02");
    expect(form.get("mapping")).toBe('{"order_book_id":"con"}');
    expect(form.get("strict")).toBe("false");
    expect(form.get("dry_run")).toBe("true");
  });

  it("leaves blank fields and an empty mapping out", () => {
    const form = indexImportFormData(new Blob(["x"]), "f.csv", DEFAULT_INDEX_OPTIONS, {}, false);
    expect(form.has("index_id")).toBe(false);
    expect(form.has("date")).toBe(false);
    expect(form.has("mapping")).toBe(false);
    expect(form.get("strict")).toBe("true");
    expect(form.get("dry_run")).toBe("false");
  });

  it("checks the fields as the server would", () => {
    expect(indexOptionProblems(DEFAULT_INDEX_OPTIONS)).toEqual({});
    expect(indexOptionProblems({ indexId: "000 300", date: "", strict: true })).toEqual({
      indexId: "no spaces",
    });
    expect(indexOptionProblems({ indexId: "X".repeat(33), date: "", strict: true }).indexId).toBe(
      "at most 32 characters",
    );
    expect(indexOptionProblems({ indexId: "", date: "2024-02-30", strict: true }).date).toBe(
      "a date, YYYY-MM-DD",
    );
  });

  it("tells real days", () => {
    expect(isIsoDay("2024-02-29")).toBe(true);
    expect(isIsoDay("2023-02-29")).toBe(false);
    expect(isIsoDay("20240102")).toBe(false);
    expect(isIsoDay("")).toBe(false);
  });

  it("reads the server's applied mapping back, keeping known columns", () => {
    expect(indexMappingOf({ index_id: "index_code", other: "x" })).toEqual({
      index_id: "index_code",
    });
    expect(indexMappingJson({})).toBeUndefined();
    expect(indexMappingJson({ date: "trade_date", index_id: "code" })).toBe(
      '{"index_id":"code","date":"trade_date"}',
    );
  });
});

describe("the form's key", () => {
  const file = { name: "hs300.csv", size: 120, lastModified: 1 };

  it("changes with the file, the fields and the chosen mapping", () => {
    const key = indexImportKey(file, DEFAULT_INDEX_OPTIONS, { date: "trade_date" });
    expect(indexImportKey({ ...file }, { ...DEFAULT_INDEX_OPTIONS }, { date: "trade_date" })).toBe(
      key,
    );
    expect(indexImportKey({ ...file, size: 121 }, DEFAULT_INDEX_OPTIONS, {})).not.toBe(
      indexImportKey(file, DEFAULT_INDEX_OPTIONS, {}),
    );
    expect(
      indexImportKey(file, { ...DEFAULT_INDEX_OPTIONS, strict: false }, { date: "trade_date" }),
    ).not.toBe(key);
    expect(indexImportKey(file, DEFAULT_INDEX_OPTIONS, { date: "day" })).not.toBe(key);
  });

  it("ignores blank mapping entries and takes no file", () => {
    expect(indexImportKey(file, DEFAULT_INDEX_OPTIONS, { weight: " " })).toBe(
      indexImportKey(file, DEFAULT_INDEX_OPTIONS, {}),
    );
    expect(indexImportKey(null, DEFAULT_INDEX_OPTIONS, {})).toBe(
      JSON.stringify([null, null, null, DEFAULT_INDEX_OPTIONS, null]),
    );
  });
});

describe("import failures", () => {
  it("keeps a refused file's report (400 with the report as data)", () => {
    const refused = report({
      refused: "strict: 1 row(s) rejected (line 4: weight '-1' is not a percentage >= 0)",
      rows_accepted: 4,
      rejected_total: 1,
      rejected: [{ line: 4, reason: "weight '-1' is not a percentage >= 0" }],
    });
    const failure = indexImportFailure(
      new ApiError(400, "DATA_INVALID", refused.refused ?? "", refused),
    );
    expect(failure.report).toBe(refused);
    expect(failure.status).toBe(400);
    expect(failure.missing).toEqual([]);
    expect(failure.columns).toEqual(refused.columns);
  });

  it("names the missing columns and the file's columns", () => {
    const failure = indexImportFailure(
      new ApiError(400, "DATA_INVALID", "f.csv: missing column(s) order_book_id", {
        columns: ["idx", "con"],
        missing: ["order_book_id", "index_id"],
      }),
    );
    expect(failure.report).toBeNull();
    expect(failure.missing).toEqual(["order_book_id", "index_id"]);
    expect(failure.columns).toEqual(["idx", "con"]);
    // An older server: from the message.
    const old = indexImportFailure(
      new ApiError(
        400,
        "DATA_INVALID",
        "f.csv: missing column(s) order_book_id, date (the file has idx, con, day); a membership file has …",
      ),
    );
    expect(old.missing).toEqual(["order_book_id", "date"]);
  });

  it("says plainly what 413 and 403 mean", () => {
    const big = indexImportFailure(new ApiError(413, "PAYLOAD_TOO_LARGE", "over 1 MB"));
    expect(big.message).toMatch(/too large/);
    const denied = indexImportFailure(new ApiError(403, "FORBIDDEN", "only admins"));
    expect(denied.message).toMatch(/^Only admins import index membership/);
    expect(indexImportFailure(new Error("boom"))).toMatchObject({ status: 0, code: "ERROR" });
  });
});

describe("the report's summary", () => {
  it("says what a preview would write", () => {
    const s = summarizeIndexReport(report());
    expect(s).toMatchObject({ compositions: 2, indexes: 1, verdict: "ok", rejected: 0 });
    expect(s.headline).toBe(
      "Preview: all 5 rows are valid: 2 compositions of 1 index; nothing written yet.",
    );
  });

  it("counts rows left out and what was imported", () => {
    const partial = report({ rows_accepted: 4, rejected_total: 1 });
    expect(summarizeIndexReport(partial).verdict).toBe("partial");
    expect(summarizeIndexReport(partial).headline).toMatch(/^Preview: 4 of 5 rows would give/);
    const done = report({ committed: true, dry_run: false, rows_accepted: 4, rejected_total: 1 });
    expect(summarizeIndexReport(done).headline).toBe(
      "Imported 2 compositions of 1 index (1 rejected row left out).",
    );
  });

  it("gives a refusal's reason", () => {
    const s = summarizeIndexReport(report({ refused: "strict: 1 row(s) rejected" }));
    expect(s.verdict).toBe("refused");
    expect(s.headline).toBe("Refused: nothing was imported.");
    expect(
      refusalReason("strict: 1 row(s) rejected (line 3: bad weight); nothing was imported"),
    ).toBe("strict: 1 row(s) rejected (line 3: bad weight)");
    expect(refusalReason("nothing in f.csv could be imported: no valid row")).toBe(
      "nothing in f.csv could be imported: no valid row",
    );
  });

  it("gives the banner's tone", () => {
    expect(summarizeIndexReport(report()).tone).toBe("info");
    expect(summarizeIndexReport(report({ rows_accepted: 4, rejected_total: 1 })).tone).toBe("warn");
    expect(summarizeIndexReport(report({ refused: "no valid row" })).tone).toBe("error");
    const done = report({ committed: true, dry_run: false, rows_accepted: 4, rejected_total: 1 });
    expect(summarizeIndexReport(done).tone).toBe("ok");
  });

  it("names the columns the server renamed", () => {
    expect(renamedColumnsText(report().mapping)).toBe(
      "index_code → index_id, con_code → order_book_id, trade_date → date",
    );
    expect(renamedColumnsText({ index_id: "index_id", weight: "w" })).toBe("w → weight");
    expect(renamedColumnsText({ date: "date" })).toBe("");
  });

  it("links the imported indexes the list has, once written", () => {
    const known = new Set(["000300.XSHG"]);
    const [hs300] = report().indexes;
    const two = hs300 ? [hs300, { ...hs300, index_id: "000905.XSHG" }] : [];
    expect(importedIndexesListed(report({ indexes: two }), known)).toEqual([]);
    const done = report({ committed: true, dry_run: false, indexes: two });
    expect(importedIndexesListed(done, known).map((i) => i.index_id)).toEqual(["000300.XSHG"]);
  });

  it("places a rejected line", () => {
    expect(lineText(7)).toBe("line 7");
    expect(lineText(0)).toBe("file");
  });
});

describe("members and changes", () => {
  it("shows the first few ids and how many more", () => {
    const ids = ["a", "b", "c", "d", "e", "f", "g"];
    expect(fewIds(ids, 4)).toEqual({ shown: ["a", "b", "c", "d"], more: 3 });
    // "+1 more" would take the room of the id itself.
    expect(fewIds(ids.slice(0, 5), 4)).toEqual({ shown: ["a", "b", "c", "d", "e"], more: 0 });
    expect(fewIdsText(ids, 2)).toBe("a, b +5 more");
    expect(fewIdsText([], 2)).toBe("");
  });

  it("pairs members with their weights and marks those not in the catalog", () => {
    expect(membersOf(components())).toEqual([
      { order_book_id: "000001.XSHE", weight: 1.5, inCatalog: true },
      { order_book_id: "600000.XSHG", weight: 2.25, inCatalog: true },
      { order_book_id: "600519.XSHG", weight: 6, inCatalog: false },
    ]);
    expect(membersOf(components({ weights: null }))[0]?.weight).toBeNull();
  });

  it("filters and sorts members", () => {
    const members = membersOf(components());
    expect(sortMembers(members, "weight").map((m) => m.order_book_id)).toEqual([
      "600519.XSHG",
      "600000.XSHG",
      "000001.XSHE",
    ]);
    expect(sortMembers(members, "id", " xshg ").map((m) => m.order_book_id)).toEqual([
      "600000.XSHG",
      "600519.XSHG",
    ]);
  });

  it("filters members' stays, keeping their order", () => {
    const spells = [
      { order_book_id: "600000.XSHG", start: "2024-01-02", end: null },
      { order_book_id: "000001.XSHE", start: "2024-01-02", end: "2024-06-02" },
      { order_book_id: "600519.XSHG", start: "2024-06-03", end: null },
    ];
    expect(spellsMatching(spells)).toEqual(spells);
    expect(spellsMatching(spells, "  ").map((s) => s.order_book_id)).toHaveLength(3);
    expect(spellsMatching(spells, " xshg").map((s) => s.order_book_id)).toEqual([
      "600000.XSHG",
      "600519.XSHG",
    ]);
    expect(spellsMatching(spells, "nope")).toEqual([]);
  });

  it("sums and writes weights", () => {
    expect(weightTotal([1.5, null, 2.5])).toBe(4);
    expect(weightTotal(null)).toBeNull();
    expect(weightTotal([null])).toBeNull();
    expect(weightText(2.345)).toBe("2.35%");
    expect(weightText(null)).toBe("");
  });

  it("finds the compositions around the one in effect", () => {
    const dates = ["2024-06-03", "2024-01-02", "2024-12-16"];
    expect(neighbourDates(dates, "2024-06-03")).toEqual({
      previous: "2024-01-02",
      next: "2024-12-16",
    });
    expect(neighbourDates(dates, "2024-01-02").previous).toBeNull();
    expect(neighbourDates(dates, null)).toEqual({ previous: null, next: null });
  });

  it("gives today where the index trades, as the server does", () => {
    const late = new Date("2024-05-06T23:30:00Z");
    expect(todayIso("000300.XSHG", late)).toBe("2024-05-07"); // 07:30 in Beijing
    expect(todayIso("SPX", late)).toBe("2024-05-06"); // 19:30 in New York
    expect(todayIso("399006.XSHE", new Date("2024-05-06T15:59:00Z"))).toBe("2024-05-06");
  });
});

describe("sources' indexes", () => {
  it("tells sources that give membership and what to suggest", () => {
    expect(givesIndexes({ indexes: ["*"] })).toBe(true);
    expect(givesIndexes({ indexes: [] })).toBe(false);
    expect(givesIndexes({})).toBe(false);
    expect(indexPlaceholder(["*"])).toBe("000300.XSHG");
    expect(indexPlaceholder(["000300.XSHG", "000016.XSHG"])).toBe("000300.XSHG, 000016.XSHG");
    expect(indexPlaceholder([])).toBe("");
  });

  it("finds indexes a source lacks", () => {
    expect(indexesLacking(["*"], ["399006.XSHE"])).toEqual([]);
    expect(indexesLacking(["000300.XSHG"], ["000300.XSHG", "000905.XSHG"])).toEqual([
      "000905.XSHG",
    ]);
  });

  it("reads an update report's indexes defensively", () => {
    expect(updateReportIndexes(null)).toEqual([]);
    expect(updateReportIndexes({ indexes: "x" })).toEqual([]);
    expect(
      updateReportIndexes({
        indexes: [
          { index_id: "000300.XSHG", added: 3, replaced: 1, first: "2024-01-02", last: "x" },
          { added: 1 },
          null,
        ],
      }),
    ).toEqual([{ index_id: "000300.XSHG", added: 3, replaced: 1, first: "2024-01-02", last: "x" }]);
  });
});
