import { describe, expect, it } from "vitest";
import type { InstrumentStats, RunOptions } from "../api/models";
import { dateRange, defaultRunForm, shiftYears, toRunBody, tradable, validate } from "./runForm";

const ins = (
  id: string,
  market: InstrumentStats["market"],
  type: string,
  first: string,
  last: string,
): InstrumentStats => ({
  order_book_id: id,
  symbol: id,
  name: id,
  market,
  type,
  exchange: "X",
  lot_size: 1,
  listed_date: null,
  delisted_date: null,
  currency: "USD",
  board_type: "MainBoard",
  st_periods: [],
  first_bar: first,
  last_bar: last,
  bar_count: 100,
});

const catalog = [
  ins("000300.XSHG", "cn", "INDX", "2006-01-06", "2025-12-31"),
  ins("AAPL", "us", "CS", "2000-03-01", "2013-03-01"),
  ins("FB", "us", "CS", "2012-05-18", "2013-03-01"),
  ins("SPX", "us", "INDX", "1999-01-04", "2018-12-31"),
];

const options: RunOptions = {
  frequencies: ["1d"],
  markets: [
    {
      name: "us_stock",
      benchmark: "SPX",
      currency: "USD",
      commission: 0,
      min_commission: 0,
      tax: 0,
      slippage: 0,
      t_plus: 0,
    },
    {
      name: "cn_stock",
      benchmark: "000300.XSHG",
      currency: "CNY",
      commission: 0.0008,
      min_commission: 5,
      tax: null,
      slippage: 0,
      t_plus: 1,
    },
  ],
  matchings: ["current_bar", "next_bar"],
  adjusts: ["none", "pre"],
  engines: ["auto", "native", "rqalpha", "backtrader"],
};
const schema = [
  { name: "fast", type: "int", default: 10 },
  { name: "slow", type: "int", default: 30 },
];

describe("run form", () => {
  it("defaults to AAPL vs the market's benchmark over the last five years of common data", () => {
    const form = defaultRunForm(options, catalog, schema);
    expect(form.universe).toEqual(["AAPL"]);
    expect(form.benchmark).toBe("SPX");
    expect([form.startDate, form.endDate]).toEqual(["2008-03-01", "2013-03-01"]);
    expect(form.engine).toBe("auto");
    expect(form.params).toEqual({ fast: "10", slow: "30" });
  });

  it("limits the dates to what every chosen instrument has", () => {
    expect(dateRange(catalog, ["AAPL", "FB"], "SPX")).toEqual({
      min: "2012-05-18",
      max: "2013-03-01",
    });
    expect(dateRange(catalog, ["AAPL"], "none")).toEqual({ min: "2000-03-01", max: "2013-03-01" });
    expect(dateRange(catalog, [], "")).toBeNull();
  });

  it("lists a market's stocks before its indexes", () => {
    expect(tradable(catalog, "us_stock").map((i) => i.order_book_id)).toEqual([
      "AAPL",
      "FB",
      "SPX",
    ]);
    expect(tradable(catalog, "cn_stock").map((i) => i.order_book_id)).toEqual(["000300.XSHG"]);
  });

  it("reports each invalid field", () => {
    const form = {
      ...defaultRunForm(options, catalog, schema),
      startDate: "1990-01-01",
      cash: "-5",
      universe: [],
      commission: "x",
    };
    form.params = { ...form.params, fast: "ten" };
    const errors = validate(form, catalog, schema);
    expect(errors.cash).toMatch(/positive/);
    expect(errors.universe).toMatch(/at least one/);
    expect(errors.commission).toMatch(/number/);
    expect(errors["param.fast"]).toMatch(/whole number/);
    const late = { ...defaultRunForm(options, catalog, schema), endDate: "2014-01-02" };
    expect(validate(late, catalog, schema).endDate).toBe("the data ends on 2013-03-01");
    const reversed = { ...late, startDate: "2012-01-03", endDate: "2011-01-03" };
    expect(validate(reversed, catalog, schema).endDate).toMatch(/on or after/);
    expect(validate(defaultRunForm(options, catalog, schema), catalog, schema)).toEqual({});
  });

  it("builds the request body: typed params, optional costs, the chosen engine", () => {
    const form = {
      ...defaultRunForm(options, catalog, schema),
      commission: "0.001",
      params: { fast: "5", slow: "" },
    };
    const body = toRunBody("sma", form, schema);
    expect(body).toMatchObject({
      strategy_id: "sma",
      start_date: "2008-03-01",
      end_date: "2013-03-01",
      cash: 100000,
      benchmark: "SPX",
      universe: ["AAPL"],
      commission: 0.001,
      min_commission: null,
      params: { fast: 5 },
      engine: "auto",
      risk_free_rate: 0,
    });
    expect(toRunBody("sma", { ...form, riskFreeRate: "0.02" }, schema).risk_free_rate).toBe(0.02);
    expect(toRunBody("sma", { ...form, engine: "native" }, schema)).toHaveProperty(
      "engine",
      "native",
    );
  });

  it("switches market defaults", () => {
    const cn = defaultRunForm(options, catalog, schema, "cn_stock");
    expect(cn.universe).toEqual(["000300.XSHG"]);
    expect(cn.benchmark).toBe("000300.XSHG");
    expect(cn.cash).toBe("1000000");
  });

  it("shifts dates by years", () => {
    expect(shiftYears("2013-03-01", -5)).toBe("2008-03-01");
    expect(shiftYears("2012-02-29", -1)).toBe("2011-02-28");
  });
});
