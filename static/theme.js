// Bootstrap's colour mode follows the system's light or dark preference. Loaded without
// `defer` before the stylesheets, so the first paint already has the right theme.
(() => {
  const dark = window.matchMedia("(prefers-color-scheme: dark)");
  const apply = () => {
    document.documentElement.setAttribute("data-bs-theme", dark.matches ? "dark" : "light");
  };
  apply();
  // Switching the system's theme while a page is open repaints it at once.
  dark.addEventListener("change", apply);
})();
