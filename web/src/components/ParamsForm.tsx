/** The strategy's parameter schema (from `PARAMS`) rendered as form fields. */
import type { ParamSpec } from "../api/models";
import type { ParamValues } from "../lib/params";

const HINT: Record<string, string> = {
  int: "whole number",
  float: "number",
  str: "text",
  list: "JSON list or a, b, c",
  any: "JSON value",
};

export function ParamsForm({
  schema,
  values,
  errors,
  onChange,
}: {
  schema: ParamSpec[];
  values: ParamValues;
  errors?: Record<string, string | undefined>;
  onChange: (values: ParamValues) => void;
}) {
  if (schema.length === 0) {
    return (
      <p className="hint">
        This strategy has no PARAMS dict: nothing to set. Add <code>PARAMS = {"{...}"}</code> to
        expose parameters here.
      </p>
    );
  }
  const set = (name: string, value: string | boolean) => onChange({ ...values, [name]: value });
  return (
    <div className="form-grid" data-testid="params-form">
      {schema.map((p) => {
        const error = errors?.[`param.${p.name}`];
        const id = `param-${p.name}`;
        if (p.type === "bool") {
          return (
            <label key={p.name} className="field" htmlFor={id}>
              <span>{p.name}</span>
              <span className="row">
                <input
                  id={id}
                  type="checkbox"
                  checked={Boolean(values[p.name])}
                  onChange={(e) => set(p.name, e.target.checked)}
                />
                <span className="hint">default {String(p.default)}</span>
              </span>
            </label>
          );
        }
        const numeric = p.type === "int" || p.type === "float";
        return (
          <label
            key={p.name}
            className={`field${p.type === "list" || p.type === "any" ? " full" : ""}`}
            htmlFor={id}
          >
            <span>
              {p.name}
              <span className="hint">{HINT[p.type] ?? p.type}</span>
            </span>
            <input
              id={id}
              name={p.name}
              inputMode={numeric ? "decimal" : undefined}
              className={error ? "invalid" : ""}
              value={String(values[p.name] ?? "")}
              placeholder={
                p.default === null || p.default === undefined ? "" : JSON.stringify(p.default)
              }
              onChange={(e) => set(p.name, e.target.value)}
            />
            {error && <span className="field-error">{error}</span>}
          </label>
        );
      })}
    </div>
  );
}
