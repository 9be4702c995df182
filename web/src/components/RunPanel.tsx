/** The Run panel: dates within the data, cash, universe, benchmark, rules, costs, engine and
 * the strategy's parameters; submits `POST /api/backtest/run`. */
import { useEffect, useMemo, useState } from "react";
import { api, unwrapData } from "../api/client";
import type { ParamSpec, RunBody } from "../api/models";
import { useLoad } from "../lib/hooks";
import {
  dateRange,
  defaultRunForm,
  oneOf,
  type RunForm,
  toRunBody,
  tradable,
  validate,
} from "../lib/runForm";
import { ParamsForm } from "./ParamsForm";
import { ErrorBanner } from "./ui";

export function RunPanel({
  strategyId,
  schema,
  busy,
  onRun,
}: {
  strategyId: string;
  schema: ParamSpec[];
  busy: boolean;
  onRun: (body: RunBody) => void;
}) {
  const setup = useLoad(async () => {
    const [options, catalog] = await Promise.all([
      unwrapData(api.GET("/api/backtest/options")),
      unwrapData(api.GET("/api/data/instruments")),
    ]);
    return { options, instruments: catalog.instruments };
  }, []);
  const [form, setForm] = useState<RunForm | null>(null);
  const [touched, setTouched] = useState(false);

  useEffect(() => {
    if (setup.data && !form)
      setForm(defaultRunForm(setup.data.options, setup.data.instruments, schema));
  }, [setup.data, form, schema]);

  // A saved change of PARAMS brings new fields; keep the values already typed. Keyed on the
  // fields' names and types (not the array's identity, new on every save), and adjusted
  // while rendering, as React recommends for state that follows a prop.
  const schemaKey = schema.map((p) => `${p.name}:${p.type}`).join(",");
  const [mergedKey, setMergedKey] = useState(schemaKey);
  if (mergedKey !== schemaKey) {
    setMergedKey(schemaKey);
    setForm((f) => {
      if (!f) return f;
      const fresh = defaultRunForm(null, [], schema).params;
      const params = Object.fromEntries(
        Object.keys(fresh).map((k) => [k, k in f.params ? f.params[k] : fresh[k]]),
      );
      return { ...f, params };
    });
  }

  const instruments = setup.data?.instruments ?? [];
  const options = setup.data?.options;
  const errors = useMemo(
    () => (form ? validate(form, instruments, schema) : {}),
    [form, instruments, schema],
  );
  if (setup.error) return <ErrorBanner error={setup.error} />;
  if (!form || !options) return <div className="loading">Loading the catalog…</div>;

  const profile = options.markets.find((m) => m.name === form.market);
  const marketInstruments = tradable(instruments, form.market);
  const range = dateRange(instruments, form.universe, form.benchmark);
  const set = <K extends keyof RunForm>(key: K, value: RunForm[K]) =>
    setForm({ ...form, [key]: value });
  const pick = <K extends "frequency" | "matching" | "engine" | "adjust">(
    key: K,
    choices: readonly RunForm[K][],
    value: string,
  ) => {
    const chosen = oneOf(choices, value);
    if (chosen !== undefined) set(key, chosen);
  };
  const shown = (key: string) => (touched ? errors[key] : undefined);
  const invalid = Object.keys(errors).length > 0;

  // Arrow functions (not hoisted declarations) keep the narrowing of `form` to a RunForm.
  const changeMarket = (value: string) => {
    const market = oneOf(
      options.markets.map((m) => m.name),
      value,
    );
    if (!setup.data || !market) return;
    const next = defaultRunForm(setup.data.options, setup.data.instruments, schema, market);
    setForm({ ...next, params: form.params, engine: form.engine });
  };

  const toggle = (id: string) => {
    const universe = form.universe.includes(id)
      ? form.universe.filter((u) => u !== id)
      : [...form.universe, id];
    setForm({ ...form, universe });
  };

  const submit = () => {
    setTouched(true);
    if (invalid) return;
    onRun(toRunBody(strategyId, form, schema));
  };

  return (
    <div data-testid="run-panel">
      <h3 className="section-title">Period & capital</h3>
      <div className="form-grid">
        <label className="field">
          <span>Start</span>
          <input
            type="date"
            name="start_date"
            value={form.startDate}
            min={range?.min}
            max={range?.max}
            className={shown("startDate") ? "invalid" : ""}
            onChange={(e) => set("startDate", e.target.value)}
          />
          {shown("startDate") && <span className="field-error">{shown("startDate")}</span>}
        </label>
        <label className="field">
          <span>End</span>
          <input
            type="date"
            name="end_date"
            value={form.endDate}
            min={range?.min}
            max={range?.max}
            className={shown("endDate") ? "invalid" : ""}
            onChange={(e) => set("endDate", e.target.value)}
          />
          {shown("endDate") && <span className="field-error">{shown("endDate")}</span>}
        </label>
        <span className="hint full">
          {range
            ? `Data available ${range.min} → ${range.max} for this selection.`
            : "Pick instruments to see the data's range."}
        </span>
        <label className="field">
          <span>Cash {profile ? <span className="hint">{profile.currency}</span> : null}</span>
          <input
            name="cash"
            inputMode="decimal"
            value={form.cash}
            className={shown("cash") ? "invalid" : ""}
            onChange={(e) => set("cash", e.target.value)}
          />
          {shown("cash") && <span className="field-error">{shown("cash")}</span>}
        </label>
        <label className="field">
          <span>Market</span>
          <select name="market" value={form.market} onChange={(e) => changeMarket(e.target.value)}>
            {options.markets.map((m) => (
              <option key={m.name} value={m.name}>
                {m.name}
              </option>
            ))}
          </select>
        </label>
      </div>

      <h3 className="section-title">Universe</h3>
      <div className="chips" data-testid="universe">
        {marketInstruments.map((i) => (
          <button
            type="button"
            key={i.order_book_id}
            className={`chip${form.universe.includes(i.order_book_id) ? " on" : ""}`}
            onClick={() => toggle(i.order_book_id)}
            title={`${i.name} · ${i.first_bar} → ${i.last_bar}`}
            aria-pressed={form.universe.includes(i.order_book_id)}
            data-id={i.order_book_id}
          >
            {i.order_book_id} {i.type === "INDX" && <small>index</small>}
          </button>
        ))}
        {marketInstruments.length === 0 && (
          <span className="hint">No instruments of this market in the catalog.</span>
        )}
      </div>
      {shown("universe") && <div className="field-error">{shown("universe")}</div>}

      <div className="form-grid" style={{ marginTop: 10 }}>
        <label className="field">
          <span>Benchmark</span>
          <select
            name="benchmark"
            value={form.benchmark}
            onChange={(e) => set("benchmark", e.target.value)}
          >
            <option value="none">none</option>
            {instruments
              .filter((i) => tradable([i], form.market).length > 0)
              .map((i) => (
                <option key={i.order_book_id} value={i.order_book_id}>
                  {i.order_book_id} {i.type === "INDX" ? "(index)" : ""}
                </option>
              ))}
          </select>
        </label>
        <label className="field">
          <span>Frequency</span>
          <select
            name="frequency"
            value={form.frequency}
            onChange={(e) => pick("frequency", options.frequencies, e.target.value)}
          >
            {options.frequencies.map((f) => (
              <option key={f}>{f}</option>
            ))}
          </select>
        </label>
        <label className="field">
          <span>Matching</span>
          <select
            name="matching"
            value={form.matching}
            onChange={(e) => pick("matching", options.matchings, e.target.value)}
          >
            {options.matchings.map((m) => (
              <option key={m} value={m}>
                {m === "current_bar"
                  ? "this bar's close"
                  : m === "next_bar"
                    ? "next bar's open"
                    : m}
              </option>
            ))}
          </select>
        </label>
        <label className="field">
          <span>Engine</span>
          <select
            name="engine"
            value={form.engine}
            onChange={(e) => pick("engine", options.engines, e.target.value)}
          >
            {options.engines.map((m) => (
              <option key={m} value={m}>
                {m === "auto" ? "auto (detect)" : m}
              </option>
            ))}
          </select>
        </label>
        <label className="field">
          <span>Prices</span>
          <select
            name="adjust"
            value={form.adjust}
            onChange={(e) => pick("adjust", options.adjusts, e.target.value)}
          >
            {options.adjusts.map((a) => (
              <option key={a} value={a}>
                {a === "pre" ? "forward-adjusted" : a === "none" ? "as traded" : a}
              </option>
            ))}
          </select>
        </label>
      </div>

      <h3 className="section-title">Costs</h3>
      <div className="form-grid">
        {(
          [
            ["commission", "Commission rate", profile?.commission],
            ["minCommission", "Min commission", profile?.min_commission],
            ["tax", "Sell tax rate", profile?.tax ?? "dated schedule"],
            ["slippage", "Slippage ratio", profile?.slippage],
            ["riskFreeRate", "Risk-free rate (annual)", 0],
          ] as const
        ).map(([key, label, def]) => (
          <label key={key} className="field">
            <span>{label}</span>
            <input
              name={key}
              inputMode="decimal"
              value={form[key]}
              placeholder={`default ${def ?? "—"}`}
              className={shown(key) ? "invalid" : ""}
              onChange={(e) => set(key, e.target.value)}
            />
            {shown(key) && <span className="field-error">{shown(key)}</span>}
          </label>
        ))}
      </div>

      <h3 className="section-title">Parameters</h3>
      <ParamsForm
        schema={schema}
        values={form.params}
        errors={touched ? errors : undefined}
        onChange={(params) => set("params", params)}
      />

      <div className="row run-bar">
        <button
          type="button"
          className="primary grow"
          style={{ justifyContent: "center" }}
          disabled={busy || (touched && invalid)}
          onClick={submit}
          data-testid="run-submit"
        >
          {busy ? "Submitting…" : "▶ Run backtest"}
        </button>
      </div>
      {touched && invalid && <p className="field-error">Fix the highlighted fields first.</p>}
    </div>
  );
}
