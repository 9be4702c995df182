/** A resizing ECharts canvas (only the chart types the UI uses are bundled). */

import { BarChart, CandlestickChart, LineChart } from "echarts/charts";
import {
  AxisPointerComponent,
  DataZoomComponent,
  GridComponent,
  LegendComponent,
  MarkLineComponent,
  MarkPointComponent,
  TooltipComponent,
} from "echarts/components";
import type { EChartsCoreOption } from "echarts/core";
import * as echarts from "echarts/core";
import { CanvasRenderer } from "echarts/renderers";
import { useEffect, useRef } from "react";

echarts.use([
  LineChart,
  BarChart,
  CandlestickChart,
  GridComponent,
  TooltipComponent,
  LegendComponent,
  DataZoomComponent,
  MarkPointComponent,
  MarkLineComponent,
  AxisPointerComponent,
  CanvasRenderer,
]);

export const CHART_COLORS = {
  text: "#8892a6",
  grid: "#1f2634",
  axis: "#33405a",
  strategy: "#3b82f6",
  benchmark: "#f0b429",
  up: "#26c281",
  down: "#f05d5e",
  drawdown: "#f05d5e",
};

export function EChart({
  option,
  height,
  group,
  testId,
  onReady,
}: {
  option: EChartsCoreOption;
  height: number | string;
  group?: string;
  testId?: string;
  onReady?: (chart: echarts.ECharts) => void;
}) {
  const ref = useRef<HTMLDivElement>(null);
  const chart = useRef<echarts.ECharts | null>(null);

  useEffect(() => {
    if (!ref.current) return;
    const instance = echarts.init(ref.current, undefined, { renderer: "canvas" });
    chart.current = instance;
    if (group) {
      instance.group = group;
      echarts.connect(group);
    }
    const observer = new ResizeObserver(() => instance.resize());
    observer.observe(ref.current);
    return () => {
      observer.disconnect();
      instance.dispose();
      chart.current = null;
    };
  }, [group]);

  useEffect(() => {
    if (!chart.current) return;
    chart.current.setOption(option, { notMerge: true });
    onReady?.(chart.current);
  }, [option, onReady]);

  // Number of points of the first series: lets tests see the chart was drawn with data.
  const series = (option as { series?: { data?: unknown[] }[] }).series;
  const points = Array.isArray(series) ? (series[0]?.data?.length ?? 0) : 0;
  return (
    <div ref={ref} className="chart" style={{ height }} data-testid={testId} data-points={points} />
  );
}

/** Shared axis/tooltip styling for the dark theme. */
export function baseOption(): EChartsCoreOption {
  return {
    backgroundColor: "transparent",
    animation: false,
    textStyle: { color: CHART_COLORS.text, fontFamily: "Inter, system-ui, sans-serif" },
    tooltip: {
      trigger: "axis",
      backgroundColor: "#171d2a",
      borderColor: "#33405a",
      textStyle: { color: "#d6dbe4", fontSize: 12 },
      axisPointer: {
        type: "cross",
        lineStyle: { color: "#5d6679" },
        label: { backgroundColor: "#33405a" },
      },
    },
  };
}

/** Zooming on the x axis: wheel/drag inside the plot, and the themed slider under it. */
export function xZoom(xAxisIndex: number | number[] = 0, height = 22, bottom = 12) {
  return [
    { type: "inside", xAxisIndex },
    {
      type: "slider",
      xAxisIndex,
      height,
      bottom,
      borderColor: "#33405a",
      textStyle: { color: CHART_COLORS.text },
      fillerColor: "rgba(59,130,246,.15)",
      dataBackground: { lineStyle: { color: "#33405a" }, areaStyle: { color: "#1d2433" } },
    },
  ];
}

export function axisStyle() {
  return {
    axisLine: { lineStyle: { color: CHART_COLORS.axis } },
    axisLabel: { color: CHART_COLORS.text },
    splitLine: { lineStyle: { color: CHART_COLORS.grid } },
  };
}
