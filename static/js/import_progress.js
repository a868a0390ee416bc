// An upload's import page: ask the job's progress (interfaces.views.import_job_progress, JSON) every
// second and move the bar and the counts; when the import is over, reload for the summary. Without this
// script the page refreshes itself every 5 seconds (<noscript> meta refresh) and has a Reload link.
"use strict";

(function () {
  const section = document.getElementById("import-progress");
  if (!section || section.dataset.over === "true") return;
  const bar = section.querySelector("progress");

  function show(progress) {
    bar.value = progress.done;
    bar.textContent = `${progress.percent} %`;
    for (const element of section.querySelectorAll("[data-field]")) {
      element.textContent = progress[element.dataset.field];
    }
    for (const element of section.querySelectorAll("[data-count]")) {
      element.textContent = progress.counts[element.dataset.count];
    }
    for (const element of section.querySelectorAll("[data-while]")) {
      element.hidden = element.dataset.while !== progress.status;
    }
  }

  async function poll() {
    try {
      const response = await fetch(section.dataset.progressUrl, { headers: { Accept: "application/json" } });
      if (response.ok) {
        const progress = await response.json();
        show(progress);
        if (progress.over) {
          window.location.reload();
          return;
        }
      }
    } catch (error) {
      // A dropped connection: try again at the next tick.
    }
    window.setTimeout(poll, 1000);
  }

  window.setTimeout(poll, 1000);
})();
