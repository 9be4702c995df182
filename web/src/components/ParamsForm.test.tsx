import { fireEvent, render, screen } from "@testing-library/react";
import { useState } from "react";
import { describe, expect, it, vi } from "vitest";
import { coerceParams, initialValues, type ParamValues } from "../lib/params";
import { ParamsForm } from "./ParamsForm";

const schema = [
  { name: "fast", type: "int", default: 10 },
  { name: "long_only", type: "bool", default: false },
  { name: "symbols", type: "list", default: ["AAPL"] },
];

function Harness({ onValues }: { onValues: (v: ParamValues) => void }) {
  const [values, setValues] = useState(initialValues(schema));
  return (
    <ParamsForm
      schema={schema}
      values={values}
      errors={{ "param.fast": coerceParams(schema, values).errors.fast }}
      onChange={(v) => {
        setValues(v);
        onValues(v);
      }}
    />
  );
}

describe("ParamsForm", () => {
  it("renders one field per parameter with its default", () => {
    render(<Harness onValues={() => {}} />);
    expect((screen.getByLabelText(/fast/) as HTMLInputElement).value).toBe("10");
    expect((screen.getByLabelText(/long_only/) as HTMLInputElement).checked).toBe(false);
    expect((screen.getByLabelText(/symbols/) as HTMLInputElement).value).toBe('["AAPL"]');
  });

  it("reports edits and shows a field's error inline", () => {
    const onValues = vi.fn();
    render(<Harness onValues={onValues} />);
    fireEvent.change(screen.getByLabelText(/fast/), { target: { value: "2.5" } });
    expect(onValues).toHaveBeenLastCalledWith(expect.objectContaining({ fast: "2.5" }));
    expect(screen.getByText("must be a whole number")).toBeTruthy();
    fireEvent.click(screen.getByLabelText(/long_only/));
    expect(onValues).toHaveBeenLastCalledWith(expect.objectContaining({ long_only: true }));
  });

  it("says what to do when the strategy has no PARAMS", () => {
    render(<ParamsForm schema={[]} values={{}} onChange={() => {}} />);
    expect(screen.getByText(/no PARAMS dict/)).toBeTruthy();
  });
});
