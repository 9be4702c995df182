import { describe, expect, it } from "vitest";
import { ApiError } from "../api/client";
import {
  autoMapping,
  catalogMapping,
  columnKey,
  columnsFromMessage,
  csvHeader,
  DEFAULT_OPTIONS,
  firstFew,
  type ImportedInstrument,
  importFailure,
  importFormData,
  isParquet,
  isStOn,
  mappingJson,
  mappingProblems,
  missingColumnsDetail,
  missingFromMessage,
  optionProblems,
  parseIds,
  rejectedRows,
  stPeriodText,
  stShort,
  summarizeReport,
  type UploadResult,
  updateReportRows,
  updateSource,
} from "./upload";

function instrument(over: Partial<ImportedInstrument> = {}): ImportedInstrument {
  return {
    order_book_id: "AAPL",
    rows_in: 10,
    rows_accepted: 10,
    rejected_total: 0,
    rejected: [],
    missing_sessions_total: 0,
    missing_sessions: [],
    first: "2024-01-02",
    last: "2024-01-16",
    error: null,
    warnings: [],
    ...over,
  };
}

function report(over: Partial<UploadResult> = {}): UploadResult {
  const instruments = over.instruments ?? [instrument()];
  return {
    format: "csv",
    columns: ["Date", "Open", "High", "Low", "Close", "Volume"],
    dry_run: true,
    committed: false,
    refused: null,
    rows_in: instruments.reduce((n, i) => n + i.rows_in, 0),
    rows_accepted: instruments.reduce((n, i) => n + i.rows_accepted, 0),
    instruments,
    ...over,
  };
}

describe("column mapping", () => {
  it("compares names as the server does", () => {
    expect(columnKey(" Adj Close ")).toBe("adj_close");
    expect(columnKey("Trade-Date")).toBe("trade_date");
  });

  it("matches the usual names of Yahoo, Tushare and akshare exports", () => {
    expect(
      autoMapping(["Date", "Open", "High", "Low", "Close", "Adj Close", "Volume", "Ticker"]),
    ).toEqual({
      date: "Date",
      open: "Open",
      high: "High",
      low: "Low",
      close: "Close",
      adj_close: "Adj Close",
      volume: "Volume",
      order_book_id: "Ticker",
    });
    expect(autoMapping(["ts_code", "trade_date", "open", "high", "low", "close", "vol"])).toEqual({
      order_book_id: "ts_code",
      date: "trade_date",
      open: "open",
      high: "high",
      low: "low",
      close: "close",
      volume: "vol",
    });
    expect(autoMapping(["日期", "开盘", "收盘", "最高", "最低", "成交量"])).toMatchObject({
      date: "日期",
      open: "开盘",
      close: "收盘",
      volume: "成交量",
    });
  });

  it("leaves unknown names unmatched and takes a column once", () => {
    const auto = autoMapping(["Day", "Open", "High", "Low", "Last", "Volume"]);
    expect(auto.date).toBeUndefined();
    expect(auto.close).toBeUndefined();
    // "date" then "time" would both match one column: the first catalog column takes it.
    expect(autoMapping(["time", "open"])).toEqual({ date: "time", open: "open" });
  });

  it("finds required columns left unmatched and file columns chosen twice", () => {
    const columns = ["Day", "Open", "High", "Low", "Last", "Volume"];
    expect(mappingProblems({}, columns)).toEqual({ missing: ["date", "close"], duplicates: [] });
    expect(mappingProblems({ date: "Day", close: "Last" }, columns).missing).toEqual([]);
    expect(mappingProblems({ date: "Day", close: "Day" }, columns)).toEqual({
      missing: [],
      duplicates: [{ column: "Day", targets: ["date", "close"] }],
    });
    // Columns not known yet (a Parquet file before the server read it): no missing column.
    expect(mappingProblems({}, []).missing).toEqual([]);
  });

  it("sends only the chosen entries, as JSON", () => {
    expect(mappingJson({})).toBeUndefined();
    expect(mappingJson({ date: "Day", close: " ", volume: "" })).toBe('{"date":"Day"}');
  });
});

describe("the import form", () => {
  it("builds the multipart body with the given fields only", async () => {
    const file = new Blob(["date,open\n"], { type: "text/csv" });
    const form = importFormData(
      file,
      "bars.csv",
      { ...DEFAULT_OPTIONS, orderBookId: " ACME ", market: "us", lotSize: "10", strict: false },
      { date: "Day" },
      true,
    );
    expect(form.get("order_book_id")).toBe("ACME");
    expect(form.get("market")).toBe("us");
    expect(form.get("lot_size")).toBe("10");
    expect(form.get("mapping")).toBe('{"date":"Day"}');
    expect(form.get("strict")).toBe("false");
    expect(form.get("dry_run")).toBe("true");
    expect(form.has("type")).toBe(false);
    expect(form.has("board")).toBe(false);
    expect(form.has("name")).toBe(false);
    const sent = form.get("file");
    expect(sent).toBeInstanceOf(File);
    expect((sent as File).name).toBe("bars.csv");
    expect(await (sent as File).text()).toBe("date,open\n");

    const plain = importFormData(file, "x.csv", DEFAULT_OPTIONS, {}, false);
    expect([...plain.keys()].sort()).toEqual(["dry_run", "file", "strict"]);
    expect(plain.get("strict")).toBe("true");
  });

  it("checks the fields the server would refuse", () => {
    expect(optionProblems(DEFAULT_OPTIONS)).toEqual({});
    expect(optionProblems({ ...DEFAULT_OPTIONS, lotSize: "0" }).lotSize).toBeDefined();
    expect(optionProblems({ ...DEFAULT_OPTIONS, lotSize: "1.5" }).lotSize).toBeDefined();
    expect(optionProblems({ ...DEFAULT_OPTIONS, lotSize: "100" }).lotSize).toBeUndefined();
    expect(optionProblems({ ...DEFAULT_OPTIONS, orderBookId: "A B" }).orderBookId).toBe(
      "no spaces",
    );
  });

  it("reads a CSV header, whatever its separator", () => {
    expect(csvHeader("\uFEFFDate,Open,Close\r\n2024-01-02,1,2\n")).toEqual([
      "Date",
      "Open",
      "Close",
    ]);
    expect(csvHeader("日期;开盘;收盘\n")).toEqual(["日期", "开盘", "收盘"]);
    expect(csvHeader("day\topen\n")).toEqual(["day", "open"]);
    expect(csvHeader('"Adj, Close",Volume\n')).toEqual(["Adj, Close", "Volume"]);
    expect(csvHeader("")).toEqual([]);
  });

  it("tells Parquet by its magic bytes", () => {
    expect(isParquet(new TextEncoder().encode("PAR1xxxx"))).toBe(true);
    expect(isParquet(new TextEncoder().encode("date,open"))).toBe(false);
    expect(isParquet(new Uint8Array())).toBe(false);
  });
});

describe("import errors", () => {
  const MISSING =
    "bars.csv: missing column(s) date, close (the file has Day, Open, High, Low, Last, " +
    "Volume); map them with the column mapping";

  it("reads the file's columns and the missing ones off the server's messages", () => {
    expect(columnsFromMessage(MISSING)).toEqual(["Day", "Open", "High", "Low", "Last", "Volume"]);
    expect(missingFromMessage(MISSING)).toEqual(["date", "close"]);
    expect(columnsFromMessage("mapping: the file has no column 'Dt' (it has Day, Open)")).toEqual([
      "Day",
      "Open",
    ]);
    expect(columnsFromMessage("bars.csv is empty")).toBeNull();
    expect(missingFromMessage("bars.csv is empty")).toEqual([]);
  });

  it("asks for a mapping when columns are missing", () => {
    const f = importFailure(new ApiError(400, "DATA_INVALID", MISSING));
    expect(f).toMatchObject({ status: 400, code: "DATA_INVALID", report: null });
    expect(f.needsMapping).toBe(true);
    expect(f.missing).toEqual(["date", "close"]);
    expect(f.columns).toHaveLength(6);
    const noId = importFailure(
      new ApiError(400, "INVALID_ARGUMENT", "the file has no order_book_id column: give one"),
    );
    expect(noId.needsMapping).toBe(true);
  });

  it("keeps the report of a refused file", () => {
    const refused = report({ refused: "strict: 1 of 1 instrument(s) cannot be imported" });
    const f = importFailure(new ApiError(400, "DATA_INVALID", "strict: …", refused));
    expect(f.report).toBe(refused);
    expect(f.needsMapping).toBe(false);
    // Data that is not a report is ignored.
    expect(importFailure(new ApiError(400, "X", "bad", { foo: 1 })).report).toBeNull();
  });

  it("says what a 413 and a 403 mean", () => {
    expect(importFailure(new ApiError(413, "PAYLOAD_TOO_LARGE", "over 1 MiB")).message).toMatch(
      /too large/,
    );
    expect(importFailure(new ApiError(403, "FORBIDDEN", "admins only")).message).toMatch(
      /^Not allowed/,
    );
    expect(importFailure(new Error("boom")).message).toBe("boom");
  });
});

describe("the report", () => {
  it("summarizes a clean preview", () => {
    const s = summarizeReport(report());
    expect(s).toMatchObject({ verdict: "ok", accepted: 10, rejected: 0, instruments: 1 });
    expect(s.headline).toContain("all 10 rows of 1 instrument are valid");
  });

  it("summarizes a partial preview and a commit", () => {
    const partial = report({
      instruments: [
        instrument({
          rows_in: 12,
          rows_accepted: 10,
          rejected_total: 2,
          rejected: [
            { date: "2024-01-03", reason: "close must be positive" },
            { date: "2024-01-04", reason: "high below low" },
          ],
          missing_sessions_total: 3,
          missing_sessions: ["2024-01-05", "2024-01-08", "2024-01-09"],
        }),
        instrument({ order_book_id: "BAD", rows_in: 2, rows_accepted: 0, error: "bad id" }),
      ],
    });
    const s = summarizeReport(partial);
    expect(s).toMatchObject({
      verdict: "partial",
      rowsIn: 14,
      accepted: 10,
      rejected: 2,
      missingSessions: 3,
      failed: 1,
    });
    expect(s.headline).toBe(
      "Preview: 10 of 14 rows would be imported into 2 instruments; nothing written yet.",
    );
    expect(rejectedRows(partial)).toEqual([
      { order_book_id: "AAPL", date: "2024-01-03", reason: "close must be positive" },
      { order_book_id: "AAPL", date: "2024-01-04", reason: "high below low" },
    ]);
    const done = summarizeReport({ ...partial, dry_run: false, committed: true });
    expect(done.headline).toBe("Imported 10 rows into 2 instruments (2 rows rejected).");
  });

  it("summarizes a refused and an empty file", () => {
    const refused = summarizeReport(report({ refused: "strict: nothing was imported" }));
    expect(refused.verdict).toBe("refused");
    expect(refused.headline).toContain("Refused");
    const empty = summarizeReport(
      report({ instruments: [instrument({ rows_accepted: 0, error: "no valid row" })] }),
    );
    expect(empty.verdict).toBe("empty");
  });

  it("lists the first few of many", () => {
    expect(firstFew(["a", "b", "c"], 3, 5)).toBe("a, b, c");
    expect(firstFew(["a", "b", "c"], 200, 2)).toBe("a, b and 198 more");
    expect(firstFew([], 0)).toBe("");
  });
});

describe("sources and updates", () => {
  it("splits ids on commas, spaces and lines, once each", () => {
    expect(parseIds(" AAPL, MSFT\n600519.XSHG;AAPL ")).toEqual(["AAPL", "MSFT", "600519.XSHG"]);
    expect(parseIds(" , ")).toEqual([]);
  });

  it("reads an update's source and report", () => {
    expect(updateSource("data update: yfinance")).toBe("yfinance");
    expect(
      updateReportRows({
        instruments: [
          { order_book_id: "AAPL", rows_in: 5, rows_accepted: 5, rejected: 0, first: "2024-01-02" },
          { rows_in: 1 },
          "junk",
        ],
      }),
    ).toEqual([
      {
        order_book_id: "AAPL",
        rows_in: 5,
        rows_accepted: 5,
        rejected: 0,
        missing_sessions: null,
        first: "2024-01-02",
        last: null,
      },
    ]);
    expect(updateReportRows(null)).toEqual([]);
    expect(updateReportRows({ instruments: "no" })).toEqual([]);
  });

  it("describes ST periods", () => {
    const periods = [
      { start: "2009-01-05", end: "2010-12-31" },
      { start: "2024-05-06", end: null },
    ];
    expect(periods.map(stPeriodText)).toEqual(["2009-01-05 → 2010-12-31", "since 2024-05-06"]);
    expect(isStOn(periods, "2010-06-01")).toBe(true);
    expect(isStOn(periods, "2012-06-01")).toBe(false);
    expect(isStOn(periods, "2025-01-01")).toBe(true);
    expect(stShort(periods)).toBe("ST since 2024 +1");
    expect(stShort(periods.slice(0, 1))).toBe("ST 2009–2010");
    expect(stShort([{ start: "2012-03-01", end: "2012-09-28" }])).toBe("ST 2012");
    expect(stShort([])).toBe("");
  });
});

describe("missingColumnsDetail", () => {
  it("reads the server's columns and missing ones, keeping only catalog columns", () => {
    expect(
      missingColumnsDetail({ columns: ["Day", "close"], missing: ["date", "nonsense", "volume"] }),
    ).toEqual({ columns: ["Day", "close"], missing: ["date", "volume"] });
    expect(missingColumnsDetail({ instruments: [] })).toBeNull();
    expect(missingColumnsDetail(null)).toBeNull();
  });
});

describe("catalogMapping", () => {
  it("keeps the catalog columns of the mapping the server applied", () => {
    expect(catalogMapping({ date: "Day", close: "Last", bogus: "x" })).toEqual({
      date: "Day",
      close: "Last",
    });
    expect(catalogMapping({})).toBeNull();
  });
});
