/**
 * The state of a Data page import form (daily bars: `ImportPanel`, membership: `IndexImport`):
 * the file chosen and its columns, the form's fields, the column mapping, the request under
 * way and what the last Preview or Import gave.
 */
import { useRef, useState } from "react";
import { csvHeader, isParquet } from "../../lib/upload";

/** Bytes read off a CSV file for its header line. */
const HEAD_BYTES = 64 * 1024;

/** The file's columns as read here (a CSV's header), or that it is Parquet (none read). */
async function readColumns(file: File): Promise<{ columns: string[]; parquet: boolean }> {
  const head = new Uint8Array(await file.slice(0, HEAD_BYTES).arrayBuffer());
  if (isParquet(head)) return { columns: [], parquet: true };
  return { columns: csvHeader(new TextDecoder().decode(head)), parquet: false };
}

/**
 * A FormData as a request's multipart body: openapi-fetch passes it through as it is (the
 * schema types the file field as a string).
 */
export const multipart = <Body>(form: FormData) => form as unknown as Body;

/** What the last Preview or Import gave, and for which form. */
export interface Outcome<Report, Failure> {
  kind: "preview" | "import";
  report: Report | null;
  failure: Failure | null;
  /** The form it was for (its key): the report is stale once the form changed. */
  key: string;
}

type Kind = "preview" | "import";

export function useImportForm<Options extends object, Column extends string, Out>(
  defaults: Options,
) {
  const [file, setFile] = useState<File | null>(null);
  const [parquet, setParquet] = useState(false);
  /** The file's columns as read here (a CSV's header), before the server answered. */
  const [localColumns, setLocalColumns] = useState<string[]>([]);
  /** The file's columns as the server read them (a report's `columns`, an error's message). */
  const [serverColumns, setServerColumns] = useState<string[] | null>(null);
  const [options, setOptions] = useState<Options>(defaults);
  const [mapping, setMapping] = useState<Partial<Record<Column, string>>>({});
  const [mappingTouched, setMappingTouched] = useState(false);
  const [showMapping, setShowMapping] = useState(false);
  const [busy, setBusy] = useState<Kind | null>(null);
  const [outcome, setOutcome] = useState<Out | null>(null);
  /** Counts the files chosen: an answer for an earlier one is dropped. */
  const picks = useRef(0);

  const pick = async (chosen: File) => {
    const mine = ++picks.current;
    setFile(chosen);
    setOutcome(null);
    setServerColumns(null);
    setMapping({});
    setMappingTouched(false);
    setShowMapping(false);
    setLocalColumns([]);
    setParquet(false);
    try {
      const read = await readColumns(chosen);
      if (mine !== picks.current) return; // another file was chosen meanwhile
      setLocalColumns(read.columns);
      setParquet(read.parquet);
    } catch {
      /* the server reads it anyway */
    }
  };

  /**
   * Sends the form of the file chosen (a Preview when `dryRun`), busy meanwhile. Whatever was
   * imported is told (`onImported`); the answer itself is dropped once another file was chosen.
   */
  const send = async <Report extends { committed: boolean }>(
    dryRun: boolean,
    {
      request,
      onImported,
      onReport,
      onError,
    }: {
      request: (file: File) => Promise<Report>;
      onImported: () => void;
      onReport: (kind: Kind, report: Report) => void;
      onError: (kind: Kind, error: unknown) => void;
    },
  ) => {
    if (!file) return;
    const kind = dryRun ? "preview" : "import";
    const mine = picks.current;
    setBusy(kind);
    try {
      const report = await request(file);
      if (report.committed) onImported();
      if (mine !== picks.current) return; // another file was chosen meanwhile
      onReport(kind, report);
    } catch (error) {
      if (mine !== picks.current) return;
      onError(kind, error);
    } finally {
      setBusy(null);
    }
  };

  const set = <K extends keyof Options>(key: K, value: Options[K]) =>
    setOptions((prev) => ({ ...prev, [key]: value }));

  /** A column of the mapping chosen by hand: kept from then on. */
  const editMapping = (column: Column, value: string) => {
    setMapping((prev) => ({ ...prev, [column]: value }));
    setMappingTouched(true);
  };

  return {
    file,
    /** The drop zone's props: the file chosen, and choosing one. */
    dropZone: { file, parquet, columnCount: localColumns.length, onPick: pick },
    localColumns,
    serverColumns,
    setServerColumns,
    /** The file's columns, the server's once it answered. */
    columns: serverColumns ?? localColumns,
    options,
    set,
    mapping,
    setMapping,
    mappingTouched,
    setMappingTouched,
    editMapping,
    showMapping,
    setShowMapping,
    busy,
    outcome,
    setOutcome,
    send,
  };
}
