/** Equity vs benchmark, drawdown, the strategy's plot() series, a running job's equity so far,
 * and a K-line with buy/sell marks, moving averages and indicator overlays. */

import type { EChartsCoreOption } from "echarts/core";
import { useMemo } from "react";
import type { EquityPoint } from "../api/live";
import type { Bars, Equity, Trade } from "../api/models";
import { candles, equitySeries, paddedAxis, tradeMarks } from "../lib/chartData";
import { axisGroups } from "../lib/indicators";
import { axisStyle, baseOption, CHART_COLORS, EChart, xZoom } from "./EChart";

const pctLabel = (v: number) => `${v.toFixed(0)}%`;

/** The strategy's line fades to transparent below it. */
const STRATEGY_AREA = {
  color: {
    type: "linear",
    x: 0,
    y: 0,
    x2: 0,
    y2: 1,
    colorStops: [
      { offset: 0, color: "rgba(59,130,246,.28)" },
      { offset: 1, color: "rgba(59,130,246,0)" },
    ],
  },
};

export function EquityChart({ equity, benchmark }: { equity: Equity; benchmark: string | null }) {
  const option = useMemo<EChartsCoreOption>(() => {
    const s = equitySeries(equity);
    const series: object[] = [
      {
        name: "Strategy",
        type: "line",
        data: s.strategy,
        showSymbol: false,
        lineStyle: { width: 1.6, color: CHART_COLORS.strategy },
        itemStyle: { color: CHART_COLORS.strategy },
        areaStyle: STRATEGY_AREA,
      },
    ];
    if (s.benchmark.length) {
      series.push({
        name: benchmark ? `Benchmark (${benchmark})` : "Benchmark",
        type: "line",
        data: s.benchmark,
        showSymbol: false,
        lineStyle: { width: 1.2, color: CHART_COLORS.benchmark },
        itemStyle: { color: CHART_COLORS.benchmark },
      });
    }
    return {
      ...baseOption(),
      legend: {
        top: 0,
        left: 0,
        textStyle: { color: CHART_COLORS.text },
        icon: "roundRect",
        itemHeight: 4,
      },
      grid: { left: 56, right: 20, top: 30, bottom: 64 },
      xAxis: {
        type: "category",
        data: s.dates,
        boundaryGap: false,
        ...axisStyle(),
        splitLine: { show: false },
      },
      yAxis: {
        type: "value",
        scale: true,
        ...axisStyle(),
        axisLabel: { color: CHART_COLORS.text, formatter: pctLabel },
      },
      tooltip: {
        ...(baseOption().tooltip as object),
        valueFormatter: (v: unknown) => (typeof v === "number" ? `${v.toFixed(2)}%` : "—"),
      },
      dataZoom: xZoom(),
      series,
    };
  }, [equity, benchmark]);
  // Taller on big screens: 340 px at 1280×800, about 500 px at 1920×1080.
  return (
    <EChart
      option={option}
      height="max(340px, calc(100vh - 580px))"
      group="result"
      testId="equity-chart"
    />
  );
}

/** Percent labels for small ranges too: 0.25%, -1.5%, 12%. */
const fineLabel = (v: number) => `${Number(v.toFixed(2))}%`;

/** `YYYY-MM-DD` of a time axis value (ECharts reads such dates as local midnight). */
function day(value: unknown): string {
  const d = new Date(typeof value === "number" || typeof value === "string" ? value : Number.NaN);
  if (Number.isNaN(d.getTime())) return "";
  const p = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}`;
}

/**
 * A running job's equity as its sessions complete (pushed on `job.<id>`), over a time axis
 * spanning the run's window when known, so the curve visibly advances.
 */
export function LiveEquityChart({
  points,
  start,
  end,
  height = 260,
}: {
  points: EquityPoint[];
  start: string | null;
  end: string | null;
  height?: number;
}) {
  const option = useMemo<EChartsCoreOption>(() => {
    const data = points.map(([date, nav]): [string, number] => [
      date,
      Math.round((nav - 1) * 1e6) / 1e4,
    ]);
    return {
      ...baseOption(),
      grid: { left: 56, right: 20, top: 14, bottom: 28 },
      xAxis: {
        type: "time",
        min: start ?? "dataMin",
        max: end ?? "dataMax",
        ...axisStyle(),
        splitLine: { show: false },
        axisPointer: { label: { formatter: ({ value }: { value: unknown }) => day(value) } },
      },
      yAxis: {
        type: "value",
        // Round bounds with room around the curve: a flat start sits mid-height, not on the axis.
        ...(paddedAxis(data.map((p) => p[1])) ?? { scale: true }),
        ...axisStyle(),
        axisLabel: { color: CHART_COLORS.text, formatter: fineLabel },
      },
      tooltip: {
        ...(baseOption().tooltip as object),
        valueFormatter: (v: unknown) => (typeof v === "number" ? `${v.toFixed(2)}%` : "—"),
      },
      series: [
        {
          name: "Strategy",
          type: "line",
          data,
          showSymbol: false,
          lineStyle: { width: 1.6, color: CHART_COLORS.strategy },
          itemStyle: { color: CHART_COLORS.strategy },
          areaStyle: STRATEGY_AREA,
        },
      ],
    };
  }, [points, start, end]);
  return <EChart option={option} height={height} testId="live-equity-chart" />;
}

export function DrawdownChart({ equity }: { equity: Equity }) {
  const option = useMemo<EChartsCoreOption>(() => {
    const s = equitySeries(equity);
    return {
      ...baseOption(),
      grid: { left: 56, right: 20, top: 12, bottom: 28 },
      xAxis: {
        type: "category",
        data: s.dates,
        boundaryGap: false,
        ...axisStyle(),
        splitLine: { show: false },
      },
      yAxis: {
        type: "value",
        max: 0,
        ...axisStyle(),
        axisLabel: { color: CHART_COLORS.text, formatter: pctLabel },
      },
      tooltip: {
        ...(baseOption().tooltip as object),
        valueFormatter: (v: unknown) => (typeof v === "number" ? `${v.toFixed(2)}%` : "—"),
      },
      dataZoom: [{ type: "inside", xAxisIndex: 0 }],
      series: [
        {
          name: "Drawdown",
          type: "line",
          data: s.drawdown,
          showSymbol: false,
          lineStyle: { width: 1, color: CHART_COLORS.drawdown },
          itemStyle: { color: CHART_COLORS.drawdown },
          areaStyle: { color: "rgba(240,93,94,.25)" },
        },
      ],
    };
  }, [equity]);
  return <EChart option={option} height={150} group="result" testId="drawdown-chart" />;
}

/** Colors of the strategy's plot() series, in the order of their names. */
export const PLOT_COLORS = ["#f472b6", "#a3e635", "#fb923c", "#2dd4bf", "#e879f9", "#94a3b8"];

/** One plot() series laid on a chart's dates. */
export interface PlotLine {
  name: string;
  values: (number | null)[];
  color: string;
}

/**
 * The strategy's plot() series in a pane of their own under the equity chart (same dates, so
 * zooming one zooms the other); the legend turns series on and off.
 */
export function PlotSeriesChart({ dates, lines }: { dates: string[]; lines: PlotLine[] }) {
  const option = useMemo<EChartsCoreOption>(() => {
    // Series of very different sizes (cash and a moving average) get an axis each.
    const axes = axisGroups(lines.map((l) => l.values));
    const twoAxes = axes.includes(1);
    const label = (v: number) => v.toLocaleString("en-US", { maximumFractionDigits: 2 });
    return {
      ...baseOption(),
      legend: {
        top: 0,
        left: 0,
        type: "scroll",
        textStyle: { color: CHART_COLORS.text },
        pageTextStyle: { color: CHART_COLORS.text },
        icon: "roundRect",
        itemHeight: 4,
      },
      grid: { left: 56, right: twoAxes ? 64 : 20, top: 30, bottom: 28 },
      xAxis: {
        type: "category",
        data: dates,
        boundaryGap: false,
        ...axisStyle(),
        splitLine: { show: false },
      },
      yAxis: [
        {
          type: "value",
          scale: true,
          ...axisStyle(),
          axisLabel: { color: CHART_COLORS.text, formatter: label },
        },
        {
          type: "value",
          scale: true,
          show: twoAxes,
          position: "right",
          ...axisStyle(),
          axisLabel: { color: CHART_COLORS.text, formatter: label },
          splitLine: { show: false },
        },
      ],
      tooltip: {
        ...(baseOption().tooltip as object),
        valueFormatter: (v: unknown) =>
          typeof v === "number" ? v.toLocaleString("en-US", { maximumFractionDigits: 4 }) : "—",
      },
      dataZoom: [{ type: "inside", xAxisIndex: 0 }],
      series: lines.map((l, i) => ({
        name: l.name,
        type: "line",
        data: l.values,
        yAxisIndex: axes[i] ?? 0,
        showSymbol: false,
        connectNulls: false,
        lineStyle: { width: 1.3, color: l.color },
        itemStyle: { color: l.color },
      })),
    };
  }, [dates, lines]);
  return <EChart option={option} height={200} group="result" testId="plot-chart" />;
}

/** A line drawn over the candles: on the price axis, or on an axis of its own (right). */
export interface KlineOverlay {
  name: string;
  values: (number | null)[];
  color: string;
  ownAxis?: boolean;
}

export function KlineChart({
  bars,
  trades,
  symbol,
  overlays = [],
  height = 460,
}: {
  bars: Bars;
  trades: Trade[];
  symbol: string;
  overlays?: KlineOverlay[];
  height?: number;
}) {
  const option = useMemo<EChartsCoreOption>(() => {
    const k = candles(bars);
    const marks = tradeMarks(trades, symbol, k.dates);
    const lows = new Map(k.dates.map((d, i) => [d, bars.low[i] ?? 0]));
    const highs = new Map(k.dates.map((d, i) => [d, bars.high[i] ?? 0]));
    const markData = marks.map((m) => ({
      name: m.side,
      coord: [m.date, m.side === "BUY" ? lows.get(m.date) : highs.get(m.date)],
      value: m.side === "BUY" ? "B" : "S",
      symbol: "pin",
      symbolSize: 26,
      symbolRotate: m.side === "BUY" ? 180 : 0,
      symbolOffset: [0, m.side === "BUY" ? 14 : -14],
      itemStyle: { color: m.side === "BUY" ? CHART_COLORS.up : CHART_COLORS.down },
      label: { color: "#fff", fontSize: 10, fontWeight: 600 },
      tooltip: {
        formatter: `${m.side} ${m.quantity} @ ${m.price.toFixed(2)} on ${m.date}${m.count > 1 ? ` (${m.count} fills)` : ""}`,
      },
    }));
    const start = k.dates.length > 260 ? Math.round((1 - 260 / k.dates.length) * 100) : 0;
    const ownAxis = overlays.some((o) => o.ownAxis);
    const right = ownAxis ? 64 : 20;
    return {
      ...baseOption(),
      axisPointer: { link: [{ xAxisIndex: "all" }] },
      grid: [
        { left: 60, right, top: 16, height: "62%" },
        { left: 60, right, top: "74%", height: "12%" },
      ],
      xAxis: [
        {
          type: "category",
          data: k.dates,
          boundaryGap: true,
          ...axisStyle(),
          splitLine: { show: false },
        },
        {
          type: "category",
          gridIndex: 1,
          data: k.dates,
          axisLabel: { show: false },
          axisTick: { show: false },
          axisLine: { lineStyle: { color: CHART_COLORS.axis } },
        },
      ],
      yAxis: [
        { type: "value", scale: true, ...axisStyle() },
        {
          type: "value",
          gridIndex: 1,
          scale: true,
          axisLabel: { show: false },
          splitLine: { show: false },
        },
        // The indicators not on the price's scale (drawn only when one is shown).
        {
          type: "value",
          gridIndex: 0,
          position: "right",
          scale: true,
          show: ownAxis,
          ...axisStyle(),
          splitLine: { show: false },
        },
      ],
      dataZoom: [
        { type: "inside", xAxisIndex: [0, 1], start },
        {
          type: "slider",
          xAxisIndex: [0, 1],
          height: 20,
          bottom: 8,
          start,
          borderColor: "#33405a",
          textStyle: { color: CHART_COLORS.text },
          fillerColor: "rgba(59,130,246,.15)",
        },
      ],
      series: [
        {
          name: symbol,
          type: "candlestick",
          data: k.values,
          itemStyle: {
            color: CHART_COLORS.up,
            color0: CHART_COLORS.down,
            borderColor: CHART_COLORS.up,
            borderColor0: CHART_COLORS.down,
          },
          markPoint: { data: markData, tooltip: { trigger: "item" } },
        },
        {
          name: "Volume",
          type: "bar",
          xAxisIndex: 1,
          yAxisIndex: 1,
          data: k.volume,
          itemStyle: { color: "#33405a" },
        },
        ...overlays.map((o) => ({
          name: o.name,
          type: "line",
          data: o.values,
          yAxisIndex: o.ownAxis ? 2 : 0,
          showSymbol: false,
          connectNulls: false,
          lineStyle: { width: 1.2, color: o.color, ...(o.ownAxis ? { type: "dashed" } : {}) },
          itemStyle: { color: o.color },
          z: 3,
        })),
      ],
    };
  }, [bars, trades, symbol, overlays]);
  return <EChart option={option} height={height} testId="kline-chart" />;
}
