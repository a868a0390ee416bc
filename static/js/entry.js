// The results entry page's live reading: as a value is typed, ask the server what the save will make of
// it (guidance.views.interpret_value, the same code as the save) and show it in the row. No second
// interpretation here; without this script the form works and the save checks everything.
"use strict";

(function () {
  const form = document.querySelector("form[data-interpret-url]");
  if (!form) return;
  const url = form.dataset.interpretUrl;
  const collectedAt = form.querySelector("[name=collected_at]");
  const timers = new Map();

  function show(output, reading) {
    output.textContent = reading.error
      ? reading.error
      : `${reading.value} · ${reading.flag_text} · range ${reading.range}` +
        (reading.question ? ` — ${reading.question}` : "");
    output.dataset.flag = reading.error ? "error" : reading.flag;
  }

  async function read(input) {
    const output = document.getElementById(input.dataset.live);
    if (!input.value.trim()) {
      output.textContent = "";
      return;
    }
    const row = input.closest("tr");
    const query = new URLSearchParams({
      analyte: input.dataset.analyte,
      value: input.value,
      unit: row.querySelector("select").value,
      collected_at: collectedAt ? collectedAt.value : "",
    });
    const response = await fetch(`${url}?${query}`, { headers: { Accept: "application/json" } });
    if (response.ok || response.status === 400) show(output, await response.json());
  }

  function soon(input) {
    clearTimeout(timers.get(input));
    timers.set(input, setTimeout(() => read(input), 250));
  }

  form.querySelectorAll("input[data-analyte]").forEach((input) => {
    input.addEventListener("input", () => soon(input));
    input.closest("tr").querySelector("select").addEventListener("change", () => soon(input));
  });
})();
