/** CodeMirror 6 with Python highlighting and compile diagnostics as inline markers. */

import { indentWithTab } from "@codemirror/commands";
import { python } from "@codemirror/lang-python";
import { type Diagnostic as CmDiagnostic, lintGutter, setDiagnostics } from "@codemirror/lint";
import { Compartment, EditorState } from "@codemirror/state";
import { oneDark } from "@codemirror/theme-one-dark";
import { EditorView, keymap } from "@codemirror/view";
import { basicSetup } from "codemirror";
import { forwardRef, useEffect, useImperativeHandle, useRef } from "react";
import type { Diagnostic } from "../api/models";

export interface CodeEditorHandle {
  getValue(): string;
  setValue(code: string): void;
  showDiagnostics(diagnostics: Diagnostic[]): void;
  goTo(line: number, column: number): void;
}

/** Contract diagnostics (1-based line and column) as CodeMirror ranges. */
export function toCmDiagnostics(state: EditorState, diagnostics: Diagnostic[]): CmDiagnostic[] {
  const out: CmDiagnostic[] = [];
  for (const d of diagnostics) {
    const lineNo = Math.min(Math.max(1, d.line || 1), state.doc.lines);
    const line = state.doc.line(lineNo);
    const from = Math.min(line.from + Math.max(0, (d.column || 1) - 1), line.to);
    const to = from < line.to ? line.to : Math.min(from + 1, state.doc.length);
    out.push({
      from,
      to: Math.max(from, to),
      severity: d.level,
      message: d.message,
      source: "compile",
    });
  }
  return out;
}

const theme = EditorView.theme(
  {
    "&": { backgroundColor: "#0d1017 !important", height: "100%" },
    ".cm-gutters": {
      backgroundColor: "#0d1017 !important",
      borderRight: "1px solid #1f2634",
      color: "#4b5468",
    },
    ".cm-activeLine": { backgroundColor: "#141a2699 !important" },
    ".cm-activeLineGutter": { backgroundColor: "#141a26 !important", color: "#8892a6" },
    ".cm-lintRange-error": { backgroundColor: "rgba(240,93,94,.18)" },
  },
  { dark: true },
);

/** Holds the read-only flag so a change of the `readOnly` prop reconfigures the live editor. */
const readOnlyMode = new Compartment();

export const CodeEditor = forwardRef<
  CodeEditorHandle,
  { initial: string; onChange?: (code: string) => void; onSave?: () => void; readOnly?: boolean }
>(function CodeEditor({ initial, onChange, onSave, readOnly }, ref) {
  const host = useRef<HTMLDivElement>(null);
  const view = useRef<EditorView | null>(null);
  const handlers = useRef({ onChange, onSave });
  handlers.current = { onChange, onSave };
  // The editor is created once per mount from the first props: later documents come through
  // `setValue` (a new `initial` must not recreate it), `readOnly` through the effect below.
  const mountProps = useRef({ initial, readOnly });

  useEffect(() => {
    if (!host.current) return;
    const v = new EditorView({
      parent: host.current,
      state: EditorState.create({
        doc: mountProps.current.initial,
        extensions: [
          basicSetup,
          python(),
          oneDark,
          theme,
          lintGutter(),
          keymap.of([
            indentWithTab,
            {
              key: "Mod-s",
              preventDefault: true,
              run: () => {
                handlers.current.onSave?.();
                return true;
              },
            },
          ]),
          readOnlyMode.of(EditorState.readOnly.of(Boolean(mountProps.current.readOnly))),
          EditorView.updateListener.of((u) => {
            if (u.docChanged) handlers.current.onChange?.(u.state.doc.toString());
          }),
        ],
      }),
    });
    view.current = v;
    return () => v.destroy();
  }, []);

  useEffect(() => {
    const v = view.current;
    if (!v || v.state.readOnly === Boolean(readOnly)) return;
    v.dispatch({ effects: readOnlyMode.reconfigure(EditorState.readOnly.of(Boolean(readOnly))) });
  }, [readOnly]);

  useImperativeHandle(ref, () => ({
    getValue: () => view.current?.state.doc.toString() ?? "",
    setValue: (code: string) => {
      const v = view.current;
      if (!v) return;
      v.dispatch({ changes: { from: 0, to: v.state.doc.length, insert: code } });
    },
    showDiagnostics: (diagnostics: Diagnostic[]) => {
      const v = view.current;
      if (!v) return;
      v.dispatch(setDiagnostics(v.state, toCmDiagnostics(v.state, diagnostics)));
    },
    goTo: (line: number, column: number) => {
      const v = view.current;
      if (!v) return;
      const l = v.state.doc.line(Math.min(Math.max(1, line), v.state.doc.lines));
      const pos = Math.min(l.from + Math.max(0, column - 1), l.to);
      v.dispatch({ selection: { anchor: pos }, scrollIntoView: true });
      v.focus();
    },
  }));

  return <div ref={host} className="editor-box" data-testid="code-editor" />;
});
