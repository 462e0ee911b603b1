// Draws each analytics chart from the table it belongs to (data-chart-for): the labels are the
// text of one column, the values the data-value attributes of others. The tables stay on the
// page, so every figure is readable without JavaScript and no figure exists only in a chart.
document.addEventListener("DOMContentLoaded", () => {
  if (typeof Chart === "undefined") return;
  const palette = ["#0d6efd", "#fd7e14", "#198754", "#6f42c1", "#dc3545", "#20c997", "#ffc107", "#6c757d"];
  for (const canvas of document.querySelectorAll("canvas.analytics-chart")) {
    const table = document.getElementById(canvas.dataset.chartFor);
    if (!table) continue;
    const labelColumn = Number(canvas.dataset.chartLabel || 0);
    const valueColumns = canvas.dataset.chartValues.split(",").map(Number);
    const headers = [...table.querySelectorAll("thead th")].map((cell) => cell.textContent.trim());
    const rows = [...table.querySelectorAll("tbody tr")].filter((row) => row.cells.length === headers.length);
    const type = canvas.dataset.chartType;
    const doughnut = type === "doughnut";
    const datasets = valueColumns.map((column, index) => ({
      label: headers[column],
      data: rows.map((row) => Number(row.cells[column].dataset.value || 0)),
      backgroundColor: doughnut ? rows.map((_row, i) => palette[i % palette.length]) : palette[index % palette.length],
      borderColor: doughnut ? "#fff" : palette[index % palette.length],
      tension: 0.2,
      pointRadius: 0,
    }));
    new Chart(canvas, {
      type,
      data: { labels: rows.map((row) => row.cells[labelColumn].textContent.trim()), datasets },
      options: {
        maintainAspectRatio: false,
        indexAxis: canvas.dataset.chartHorizontal ? "y" : "x",
        interaction: { mode: "index", intersect: false },
        plugins: { legend: { display: doughnut || datasets.length > 1 } },
        scales: doughnut ? {} : { [canvas.dataset.chartHorizontal ? "x" : "y"]: { beginAtZero: true, ticks: { precision: 0 } } },
      },
    });
  }
});
