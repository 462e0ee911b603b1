// Draws a bar chart from the table under each canvas; the table stays for readers without JavaScript.
document.addEventListener("DOMContentLoaded", () => {
  if (typeof Chart === "undefined") return;
  for (const canvas of document.querySelectorAll("canvas.survey-chart")) {
    const table = canvas.nextElementSibling;
    const rows = [...table.querySelectorAll("tbody tr")];
    new Chart(canvas, {
      type: "bar",
      data: {
        labels: rows.map((row) => row.cells[0].textContent),
        datasets: [{ data: rows.map((row) => Number(row.cells[1].textContent)), backgroundColor: "#0d6efd" }],
      },
      options: { plugins: { legend: { display: false } }, scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } },
    });
  }
});
