// Doorstep's only script: the two Bootstrap behaviours its pages use, on Bootstrap's own
// markup, without Bootstrap's 80 KB bundle (which cost the window's start-up more than
// anything else left on the page: docs/startup.md).
document.addEventListener("click", (event) => {
  // The navbar's toggler shows and hides the links on narrow windows.
  const toggler = event.target.closest('[data-bs-toggle="collapse"]');
  if (toggler) {
    const menu = document.querySelector(toggler.dataset.bsTarget);
    const open = menu.classList.toggle("show");
    toggler.setAttribute("aria-expanded", String(open));
    return;
  }
  // An alert's close button removes the alert.
  const closer = event.target.closest('[data-bs-dismiss="alert"]');
  if (closer) {
    closer.closest(".alert").remove();
  }
});
