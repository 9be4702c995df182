/* quantdesk backtest report: draws the charts from the inlined JSON and sorts the tables.
 * No network access; every piece of text that reaches a tooltip (HTML) goes through esc(). */
(function () {
  'use strict';

  var D = JSON.parse(document.getElementById('report-data').textContent);
  var C = {
    strategy: '#2563eb', benchmark: '#9ca3af', pos: '#16a34a', neg: '#dc2626',
    ink: '#1f2937', muted: '#6b7280', line: '#e5e7eb', dd: 'rgba(220, 38, 38, 0.08)'
  };
  var PALETTE = ['#2563eb', '#f59e0b', '#10b981', '#ef4444', '#8b5cf6', '#06b6d4', '#ec4899',
    '#84cc16', '#f97316', '#6366f1', '#64748b'];
  var MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec',
    'Year'];
  var charts = {};

  function esc(s) {
    return String(s).replace(/[&<>"']/g, function (c) {
      return { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c];
    });
  }
  function isNum(v) { return typeof v === 'number' && isFinite(v); }
  function pct(v, d) {
    if (!isNum(v)) return '\u2014';
    var text = (v * 100).toFixed(d == null ? 2 : d);
    return (/^-0(\.0*)?$/.test(text) ? text.slice(1) : text) + '%';
  }
  function fix(v, d) { return isNum(v) ? v.toFixed(d == null ? 2 : d) : '\u2014'; }
  function big(v) {
    return isNum(v) ? v.toLocaleString('en-US', { maximumFractionDigits: 2 }) : '\u2014';
  }

  function axisTip(fmt) {
    return {
      trigger: 'axis',
      confine: true,
      formatter: function (items) {
        if (!items.length) return '';
        var out = '<b>' + esc(items[0].axisValueLabel) + '</b>';
        items.forEach(function (p) {
          var v = Array.isArray(p.value) ? p.value[p.value.length - 1] : p.value;
          if (v == null) return;
          out += '<br>' + p.marker + esc(p.seriesName) + ': <b>' + esc(fmt(v, p)) + '</b>';
        });
        return out;
      }
    };
  }

  function base(extra) {
    var opt = {
      animation: false,
      color: PALETTE,
      textStyle: { fontFamily: 'system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif' },
      grid: { left: 64, right: 28, top: 40, bottom: 64 },
      legend: {
        top: 4, type: 'scroll', icon: 'roundRect', itemWidth: 14, itemHeight: 8,
        textStyle: { color: C.ink }
      }
    };
    Object.keys(extra).forEach(function (k) { opt[k] = extra[k]; });
    return opt;
  }

  function zoom(indexes) {
    return [
      { type: 'inside', xAxisIndex: indexes },
      { type: 'slider', xAxisIndex: indexes, height: 18, bottom: 10, brushSelect: false }
    ];
  }

  function dateAxis(dates, extra) {
    var axis = {
      type: 'category', data: dates, boundaryGap: false,
      axisLine: { lineStyle: { color: C.line } }, axisLabel: { color: C.muted }
    };
    Object.keys(extra || {}).forEach(function (k) { axis[k] = extra[k]; });
    return axis;
  }

  function valueAxis(fmt, extra) {
    var axis = {
      type: 'value', scale: true, axisLabel: { color: C.muted, formatter: fmt },
      splitLine: { lineStyle: { color: '#f0f1f4' } }
    };
    Object.keys(extra || {}).forEach(function (k) { axis[k] = extra[k]; });
    return axis;
  }

  function line(name, data, color, extra) {
    var s = {
      name: name, type: 'line', data: data, showSymbol: false, color: color,
      lineStyle: { width: 1.5 }, emphasis: { disabled: true }
    };
    Object.keys(extra || {}).forEach(function (k) { s[k] = extra[k]; });
    return s;
  }

  function make(id, build) {
    var node = document.getElementById(id);
    if (!node) return;
    try {
      var chart = echarts.init(node, null, { renderer: 'svg' });
      chart.setOption(build());
      charts[id] = chart;
    } catch (err) {
      console.error('report chart ' + id + ' failed: ' + (err && err.stack ? err.stack : err));
      node.textContent = 'This chart could not be drawn.';
    }
  }

  function allPositive() {
    var ok = true;
    [D.nav, D.benchmark_nav || []].forEach(function (xs) {
      xs.forEach(function (v) { if (v != null && !(v > 0)) ok = false; });
    });
    return ok;
  }

  function equityOption() {
    var series = [line('Strategy', D.nav, C.strategy, { lineStyle: { width: 1.8 } })];
    if (D.benchmark_nav) series.push(line('Benchmark', D.benchmark_nav, C.benchmark));
    var deepest = D.drawdown_periods[0];
    if (deepest) {
      series[0].markArea = {
        silent: true, itemStyle: { color: C.dd },
        label: { color: C.neg, fontSize: 11, position: 'insideTop' },
        data: [[{ name: 'Max drawdown ' + pct(deepest.depth, 1), xAxis: deepest.start },
          { xAxis: deepest.end || D.dates[D.dates.length - 1] }]]
      };
    }
    return base({
      tooltip: axisTip(function (v) { return fix(v, 4) + '  (' + pct(v - 1, 1) + ')'; }),
      xAxis: dateAxis(D.dates),
      yAxis: valueAxis(function (v) { return fix(v, 2); }, { name: 'NAV', nameGap: 12 }),
      dataZoom: zoom([0]),
      series: series
    });
  }

  function setScale(scale) {
    var chart = charts['chart-equity'];
    if (!chart) return;
    chart.setOption({ yAxis: { type: scale === 'log' ? 'log' : 'value', logBase: 2 } });
    document.querySelectorAll('#equity .toggle button').forEach(function (b) {
      b.setAttribute('aria-pressed', String(b.getAttribute('data-scale') === scale));
    });
    document.getElementById('equity').setAttribute('data-scale', scale);
  }

  function drawdownOption() {
    var series = [line('Strategy', D.drawdown, C.neg, {
      areaStyle: { color: 'rgba(220, 38, 38, 0.18)' }, lineStyle: { width: 1.2 }
    })];
    if (D.benchmark_drawdown) {
      series.push(line('Benchmark', D.benchmark_drawdown, C.benchmark, {
        lineStyle: { width: 1.2, type: 'dashed' }
      }));
    }
    return base({
      tooltip: axisTip(function (v) { return pct(v); }),
      xAxis: dateAxis(D.dates),
      yAxis: valueAxis(function (v) { return pct(v, 0); }, { max: 0, scale: false }),
      dataZoom: zoom([0]),
      series: series
    });
  }

  function monthlyOption() {
    var m = D.monthly;
    var cells = m.cells.filter(function (c) { return c[2] != null; });
    var span = 0.01;
    cells.forEach(function (c) { if (c[0] < 12) span = Math.max(span, Math.abs(c[2])); });
    return {
      animation: false,
      textStyle: base({}).textStyle,
      grid: { left: 56, right: 12, top: 30, bottom: 8 },
      tooltip: {
        confine: true,
        formatter: function (p) {
          var c = p.data.cell;
          var when = (c[0] < 12 ? MONTHS[c[0]] + ' ' : 'Year ') + m.years[c[1]];
          var out = '<b>' + esc(when) + '</b><br>Strategy: <b>' + esc(pct(c[2])) + '</b>';
          if (c[3] != null) out += '<br>Benchmark: ' + esc(pct(c[3]));
          return out;
        }
      },
      xAxis: {
        type: 'category', data: MONTHS, position: 'top', splitArea: { show: false },
        axisLine: { show: false }, axisTick: { show: false }, axisLabel: { color: C.muted }
      },
      yAxis: {
        type: 'category', data: m.years.map(String), inverse: true,
        axisLine: { show: false }, axisTick: { show: false }, axisLabel: { color: C.ink }
      },
      visualMap: {
        show: false, min: -span, max: span, dimension: 2,
        inRange: { color: ['#ef4444', '#fecaca', '#ffffff', '#bbf7d0', '#22c55e'] }
      },
      series: [{
        type: 'heatmap',
        data: cells.map(function (c) {
          return {
            value: [c[0], c[1], c[2]], cell: c,
            label: c[0] === 12 ? { fontWeight: 'bold' } : undefined
          };
        }),
        label: {
          show: true, color: C.ink, fontSize: 11,
          formatter: function (p) { return pct(p.value[2], 1); }
        },
        itemStyle: { borderColor: '#ffffff', borderWidth: 2, borderRadius: 3 },
        emphasis: { itemStyle: { borderColor: C.ink, borderWidth: 1 } }
      }]
    };
  }

  function yearlyOption() {
    var y = D.yearly;
    var label = { show: true, position: 'top', fontSize: 10, color: C.muted,
      formatter: function (p) { return pct(p.value, 1); } };
    var series = [{
      name: 'Strategy', type: 'bar', data: y.returns, color: C.strategy, label: label,
      barMaxWidth: 36
    }];
    if (y.benchmark_returns) {
      series.push({
        name: 'Benchmark', type: 'bar', data: y.benchmark_returns, color: C.benchmark,
        label: label, barMaxWidth: 36
      });
    }
    return base({
      grid: { left: 64, right: 28, top: 40, bottom: 36 },
      tooltip: axisTip(function (v) { return pct(v); }),
      xAxis: { type: 'category', data: y.years.map(String), axisLabel: { color: C.ink } },
      yAxis: valueAxis(function (v) { return pct(v, 0); }, { scale: false }),
      series: series
    });
  }

  function rollingOption() {
    var r = D.rolling;
    var rows = [
      ['Sharpe ratio', r.sharpe, fix, 0],
      ['Volatility (annual)', r.volatility, pct, null],
      ['Beta', r.beta, fix, 1]
    ].filter(function (row) { return row[1] && row[1].some(isNum); });
    var top = 34, bottom = 48, gap = 34;
    var height = (520 - top - bottom - gap * (rows.length - 1)) / Math.max(rows.length, 1);
    var opt = base({
      legend: { show: false },
      grid: [], xAxis: [], yAxis: [], series: [], title: [],
      axisPointer: { link: [{ xAxisIndex: 'all' }] },
      tooltip: axisTip(function (v, p) {
        return p.seriesName.indexOf('Volatility') === 0 ? pct(v) : fix(v);
      })
    });
    rows.forEach(function (row, i) {
      var y = top + i * (height + gap);
      var last = i === rows.length - 1;
      opt.grid.push({ left: 64, right: 28, top: y, height: height });
      opt.title.push({
        text: row[0], top: y - 24, left: 60,
        textStyle: { fontSize: 12, fontWeight: 600, color: C.muted }
      });
      opt.xAxis.push(dateAxis(r.dates, { gridIndex: i, axisLabel: { show: last, color: C.muted } }));
      opt.yAxis.push(valueAxis(function (v) { return row[2] === pct ? pct(v, 0) : fix(v, 1); },
        { gridIndex: i, splitNumber: 3 }));
      var s = line(row[0], row[1], PALETTE[i], { xAxisIndex: i, yAxisIndex: i });
      if (row[3] != null) {
        s.markLine = {
          silent: true, symbol: 'none', label: { show: false },
          lineStyle: { color: C.muted, type: 'dashed', width: 1 }, data: [{ yAxis: row[3] }]
        };
      }
      opt.series.push(s);
    });
    opt.dataZoom = zoom(rows.map(function (_, i) { return i; }));
    return opt;
  }

  function distributionOption() {
    var h = D.histogram;
    var labels = [];
    var digits = h.edges[h.edges.length - 1] - h.edges[0] < 0.05 ? 2 : 1;
    for (var i = 0; i + 1 < h.edges.length; i++) {
      labels.push(pct((h.edges[i] + h.edges[i + 1]) / 2, digits));
    }
    var series = [{
      name: 'Strategy', type: 'bar', data: h.counts, color: C.strategy, barCategoryGap: '8%',
      itemStyle: { opacity: 0.8 }
    }];
    if (h.benchmark_counts) {
      series.push({
        name: 'Benchmark', type: 'bar', data: h.benchmark_counts, color: C.benchmark,
        barGap: '-100%', itemStyle: { opacity: 0.45 }
      });
    }
    return base({
      grid: { left: 56, right: 16, top: 40, bottom: 40 },
      tooltip: {
        trigger: 'axis', confine: true,
        formatter: function (items) {
          var k = items[0].dataIndex;
          var out = '<b>' + esc(pct(h.edges[k])) + ' to ' + esc(pct(h.edges[k + 1])) + '</b>';
          items.forEach(function (p) {
            out += '<br>' + p.marker + esc(p.seriesName) + ': <b>' + esc(p.value) + '</b> sessions';
          });
          return out;
        }
      },
      xAxis: { type: 'category', data: labels, axisLabel: { color: C.muted } },
      yAxis: valueAxis(null, { name: 'sessions', scale: false, minInterval: 1 }),
      series: series
    });
  }

  function exposureOption() {
    var e = D.exposure;
    var top = 0;
    e.dates.forEach(function (_, k) {
      var sum = 0;
      e.series.forEach(function (s) { sum += s.weights[k] || 0; });
      top = Math.max(top, sum);
    });
    var series = e.series.map(function (s, i) {
      var cash = s.name === 'Cash' && i === e.series.length - 1;
      return line(s.name, s.weights, cash ? '#d1d5db' : PALETTE[i % PALETTE.length], {
        stack: 'weight', areaStyle: { opacity: cash ? 0.35 : 0.75 }, lineStyle: { width: 0.6 }
      });
    });
    return base({
      tooltip: axisTip(function (v) { return pct(v, 1); }),
      xAxis: dateAxis(e.dates),
      yAxis: valueAxis(function (v) { return pct(v, 0); },
        { scale: false, max: top <= 1.0001 ? 1 : null }),
      dataZoom: zoom([0]),
      series: series
    });
  }

  function plotsOption() {
    var p = D.plots;
    return base({
      tooltip: axisTip(function (v) { return big(v); }),
      xAxis: dateAxis(p.dates),
      yAxis: valueAxis(function (v) { return big(v); }),
      dataZoom: zoom([0]),
      series: p.series.map(function (s, i) {
        return line(s.name, s.values, PALETTE[i % PALETTE.length], { connectNulls: true });
      })
    });
  }

  function sortable(table) {
    var heads = table.tHead.rows[0].cells;
    Array.prototype.forEach.call(heads, function (th, col) {
      th.tabIndex = 0;
      function run() {
        var dir = th.getAttribute('aria-sort') === 'ascending' ? 'descending' : 'ascending';
        Array.prototype.forEach.call(heads, function (h) { h.removeAttribute('aria-sort'); });
        th.setAttribute('aria-sort', dir);
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows).map(function (r, i) {
          return { row: r, at: i, v: r.cells[col].getAttribute('data-v') || '' };
        });
        var numeric = rows.every(function (x) { return x.v === '' || isFinite(Number(x.v)); });
        var sign = dir === 'ascending' ? 1 : -1;
        rows.sort(function (a, b) {
          if (a.v === '' || b.v === '') return (a.v === '') - (b.v === '') || a.at - b.at;
          var c = numeric ? Number(a.v) - Number(b.v) : (a.v < b.v ? -1 : a.v > b.v ? 1 : 0);
          return sign * c || a.at - b.at;
        });
        var frag = document.createDocumentFragment();
        rows.forEach(function (x) { frag.appendChild(x.row); });
        body.appendChild(frag);
      }
      th.addEventListener('click', run);
      th.addEventListener('keydown', function (ev) {
        if (ev.key === 'Enter' || ev.key === ' ') { ev.preventDefault(); run(); }
      });
    });
  }

  make('chart-equity', equityOption);
  make('chart-drawdown', drawdownOption);
  make('chart-monthly', monthlyOption);
  make('chart-yearly', yearlyOption);
  make('chart-rolling', rollingOption);
  make('chart-distribution', distributionOption);
  make('chart-exposure', exposureOption);
  make('chart-plots', plotsOption);

  var logOk = allPositive();
  document.querySelectorAll('#equity .toggle button').forEach(function (b) {
    var scale = b.getAttribute('data-scale');
    if (scale === 'log' && !logOk) {
      b.disabled = true;
      b.title = 'A log scale needs every NAV above zero';
    }
    b.addEventListener('click', function () { setScale(scale); });
  });
  document.getElementById('equity').setAttribute('data-scale', 'linear');
  document.querySelectorAll('table[data-sortable]').forEach(sortable);

  function resize() { Object.keys(charts).forEach(function (k) { charts[k].resize(); }); }
  window.addEventListener('resize', resize);
  window.addEventListener('beforeprint', resize);
  document.documentElement.setAttribute('data-report-ready', 'true');
})();
