/** One labelled figure of a detail's meta line (an instrument's, an index's). */
export function Meta({
  label,
  value,
  testId,
  warn,
}: {
  label: string;
  value: string;
  testId?: string;
  warn?: boolean;
}) {
  return (
    <span className="meta-item" data-testid={testId}>
      <span className="meta-label">{label}</span>
      <span className={warn ? "warn" : undefined}>{value}</span>
    </span>
  );
}
