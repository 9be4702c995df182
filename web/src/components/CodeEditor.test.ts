import { EditorState } from "@codemirror/state";
import { describe, expect, it } from "vitest";
import { toCmDiagnostics } from "./CodeEditor";

describe("compile diagnostics as editor markers", () => {
  const state = EditorState.create({ doc: "import os\n\ndef broken(:\n    pass\n" });

  it("places a 1-based line and column on the document, to the end of the line", () => {
    const [d] = toCmDiagnostics(state, [
      { line: 3, column: 12, level: "error", message: "invalid syntax" },
    ]);
    const line = state.doc.line(3);
    expect(d.from).toBe(line.from + 11);
    expect(d.to).toBe(line.to);
    expect(d.severity).toBe("error");
    expect(d.message).toBe("invalid syntax");
  });

  it("clamps positions outside the document and keeps the level as the severity", () => {
    const out = toCmDiagnostics(state, [
      { line: 99, column: 500, level: "warning", message: "w" },
      { line: 0, column: 0, level: "error", message: "e" },
    ]);
    expect(out[0].from).toBeLessThanOrEqual(state.doc.length);
    expect(out[0].severity).toBe("warning");
    expect(out[1].from).toBe(0);
    expect(out[1].severity).toBe("error");
  });
});
