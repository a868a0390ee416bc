// The summary's Print button (a file of its own: the Content-Security-Policy runs no inline script).
document.getElementById("print-summary").addEventListener("click", () => window.print());
