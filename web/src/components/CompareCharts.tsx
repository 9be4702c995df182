/** The comparison's charts: equity curves rebased on a common axis, and their drawdowns. */

import type { EChartsCoreOption } from "echarts/core";
import { useMemo } from "react";
import type { Schemas } from "../api/client";
import { toPercent } from "../lib/compare";
import { axisStyle, baseOption, CHART_COLORS, EChart, xZoom } from "./EChart";

type CurveSet = Schemas["CurveSet"];

/** A run of the charts: its job id, legend name and color. */
export interface ChartRun {
  jobId: string;
  name: string;
  color: string;
}

const pctAxis = (v: number) => `${Number(v.toFixed(1))}%`;
const pctValue = (v: unknown) => (typeof v === "number" ? `${v.toFixed(2)}%` : "—");

function curves(
  set: CurveSet,
  runs: ChartRun[],
  offset: number,
  sign: number,
  area: boolean,
): object[] {
  return runs.map((run) => ({
    name: run.name,
    type: "line",
    data: toPercent(set.series[run.jobId] ?? [], offset).map((v) => (v === null ? null : v * sign)),
    showSymbol: false,
    connectNulls: false,
    lineStyle: { width: 1.5, color: run.color },
    itemStyle: { color: run.color },
    ...(area ? { areaStyle: { color: run.color, opacity: 0.06 } } : {}),
  }));
}

const legend = {
  top: 0,
  left: 0,
  type: "scroll",
  textStyle: { color: CHART_COLORS.text },
  pageTextStyle: { color: CHART_COLORS.text },
  icon: "roundRect",
  itemHeight: 4,
};

/** Each run's NAV rebased to 1 on the first common session, as a cumulative return. */
export function CompareEquityChart({ equity, runs }: { equity: CurveSet; runs: ChartRun[] }) {
  const option = useMemo<EChartsCoreOption>(
    () => ({
      ...baseOption(),
      legend,
      grid: { left: 60, right: 20, top: 34, bottom: 64 },
      xAxis: {
        type: "category",
        data: equity.dates,
        boundaryGap: false,
        ...axisStyle(),
        splitLine: { show: false },
      },
      yAxis: {
        type: "value",
        scale: true,
        ...axisStyle(),
        axisLabel: { color: CHART_COLORS.text, formatter: pctAxis },
      },
      tooltip: { ...(baseOption().tooltip as object), valueFormatter: pctValue },
      dataZoom: xZoom(),
      series: curves(equity, runs, 1, 1, false),
    }),
    [equity, runs],
  );
  return (
    <EChart
      option={option}
      height="max(320px, calc(100vh - 560px))"
      group="compare"
      testId="compare-equity-chart"
    />
  );
}

/** Each run's drawdown from its running peak (the API's positive fractions, drawn below 0). */
export function CompareDrawdownChart({
  drawdowns,
  runs,
}: {
  drawdowns: CurveSet;
  runs: ChartRun[];
}) {
  const option = useMemo<EChartsCoreOption>(
    () => ({
      ...baseOption(),
      grid: { left: 60, right: 20, top: 12, bottom: 28 },
      xAxis: {
        type: "category",
        data: drawdowns.dates,
        boundaryGap: false,
        ...axisStyle(),
        splitLine: { show: false },
      },
      yAxis: {
        type: "value",
        max: 0,
        ...axisStyle(),
        axisLabel: { color: CHART_COLORS.text, formatter: pctAxis },
      },
      tooltip: { ...(baseOption().tooltip as object), valueFormatter: pctValue },
      dataZoom: [{ type: "inside", xAxisIndex: 0 }],
      series: curves(drawdowns, runs, 0, -1, true),
    }),
    [drawdowns, runs],
  );
  return <EChart option={option} height={170} group="compare" testId="compare-drawdown-chart" />;
}
